package io.headwise.profilers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.ModelProto;
import io.headwise.graph.AttentionLocator;
import io.headwise.graph.AttentionMap;
import io.headwise.graph.ElementType;
import io.headwise.graph.FusedFixtures;
import io.headwise.graph.OnnxModel;
import io.headwise.schemas.HeadStat;
import io.headwise.schemas.StatNames;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The default profile measures {@code layer_output_kl} on every decoder, so the whole-layer
 * ablation must run on the decoder layouts exporters produce with fused attention ops too:
 * GroupQueryAttention (with and without a local window, float32 and float16), ONNX Attention (opset
 * 23) and ONNX Runtime's GPT-2 Attention layout. Each layer's KL is positive at both windows and
 * written for each of its query heads.
 */
class LayerSensitivityFusedTest {
  @TempDir static Path dir;

  @Test
  void groupQueryAttention() throws Exception {
    check(FusedFixtures.gqa().buildGqa(), "gqa", true);
    // the model's own sliding window (3 keys) lies inside both bands (4 and 8): nothing changes
    FusedFixtures w = FusedFixtures.gqa();
    w.localWindow = 3;
    check(w.buildGqa(), "gqa-window", false);
    FusedFixtures h = FusedFixtures.gqa();
    h.elemType = ElementType.FLOAT16;
    check(h.buildGqa(), "gqa-fp16", true);
  }

  @Test
  void onnxAttentionAndOrtDecoderLayout() throws Exception {
    check(FusedFixtures.gqa().buildOnnxAttention(false), "onnx-attention", true);
    check(
        FusedFixtures.gqa().buildOrt(FusedFixtures.OrtLayout.ATTENTION_DECODER),
        "ort-decoder",
        true);
  }

  private static void check(ModelProto proto, String name, boolean changes) throws Exception {
    OnnxModel model = FusedFixtures.write(proto, dir, name + ".onnx");
    AttentionMap map = AttentionLocator.locate(model);
    Random rnd = new Random(5);
    List<CalibrationSample> samples = new ArrayList<>();
    for (int s = 0; s < 2; s++) {
      int[] ids = new int[16];
      for (int i = 0; i < ids.length; i++) {
        ids[i] = 1 + rnd.nextInt(40);
      }
      samples.add(CalibrationSample.of(name + s, ids, null, CalibrationSample.SOURCE_IDS));
    }
    List<HeadStat> stats =
        new SensitivityProfiler(model, map, ExecutionProvider.CPU, 1, 1, List.of())
            .profileLayers(16, samples, 2)
            .toHeadStats(model.modelId(), "t", map);
    for (int w : SensitivityProfiler.layerWindowsFor(16)) {
      for (int layer = 0; layer < map.numLayers(); layer++) {
        String stat = StatNames.layerOutputKl(1, w);
        int l = layer;
        List<Double> values =
            stats.stream()
                .filter(x -> x.layer() == l && x.stat().equals(stat))
                .map(HeadStat::value)
                .toList();
        assertEquals(map.block(layer).numHeads(), values.size(), name + " " + stat);
        String what = name + " layer " + layer + " " + stat + ": " + values;
        assertTrue(changes ? values.get(0) > 1e-6 : Math.abs(values.get(0)) < 1e-6, what);
        assertTrue(values.stream().allMatch(v -> v.equals(values.get(0))), name + values);
      }
    }
  }
}
