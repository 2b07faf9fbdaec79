package io.headwise.profilers;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.ModelProto;
import io.headwise.graph.FusedFixtures;
import io.headwise.graph.OnnxModel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The exactness bar on fused attention ops: every in-graph statistic of a model whose attention is
 * a {@code com.microsoft} GroupQueryAttention, Attention or MultiHeadAttention node or an ONNX
 * Attention (opset 23) node equals the direct computation from the expanded core's probabilities
 * within 1e-4, untiled and with the query-tiled core asked for (5 rows per block). Batches are
 * right-padded (GroupQueryAttention's seqlens_k only describes right padding).
 */
class FusedExactnessTest {
  @TempDir static Path dir;

  private static final StatsConfig CONFIG =
      new StatsConfig(List.of(1, 4), List.of(1, 4, 16), List.of(4), List.of(1, 10, 20), true, true);

  @Test
  void groupQueryAttention() throws Exception {
    FusedFixtures f = FusedFixtures.gqa();
    check(f.buildGqa(), "gqa", f.vocab, true);
    FusedFixtures w = FusedFixtures.gqa();
    w.localWindow = 3;
    check(w.buildGqa(), "gqa-window", w.vocab, false);
  }

  @Test
  void onnxAttentionOpset23() throws Exception {
    for (boolean threeD : new boolean[] {false, true}) {
      FusedFixtures f = FusedFixtures.gqa();
      check(f.buildOnnxAttention(threeD), "onnx-attention-" + threeD, f.vocab, true);
    }
  }

  @Test
  void ortOptimizerLayouts() throws Exception {
    for (FusedFixtures.OrtLayout layout : FusedFixtures.OrtLayout.values()) {
      FusedFixtures f = FusedFixtures.gqa();
      f.heads = 3;
      check(f.buildOrt(layout), layout.name(), f.vocab, true);
    }
  }

  /**
   * {@code tileable}: whether the score-path check lets the tiled core take the layers. It probes
   * with left padding and a hole in the mask; GroupQueryAttention (seqlens_k) and a 1-D mask_index
   * (valid lengths) then show a valid-lengths key mask, which the tiled core rebuilds as such
   * (ScorePathCheck.KeyMask.LENGTH). A sliding window shorter than the probe keeps the untiled
   * route.
   */
  private static void check(ModelProto proto, String name, int vocab, boolean tileable)
      throws Exception {
    OnnxModel model = FusedFixtures.write(proto, dir, name + ".onnx");
    Random rnd = new Random(4);
    int maxLen = 16;
    List<CalibrationSample> samples = new ArrayList<>();
    for (int len : new int[] {16, 11, 6}) {
      int[] ids = new int[len];
      for (int i = 0; i < len; i++) {
        ids[i] = 1 + rnd.nextInt(vocab - 1);
      }
      samples.add(CalibrationSample.of(name + len, ids, null, CalibrationSample.SOURCE_IDS));
    }
    Batch batch = Batch.pad(ProbeKind.PLAIN, samples, maxLen);
    int untiled = StatsExactnessTest.check(model, CONFIG, List.of(batch), 0);
    int tiled = StatsExactnessTest.check(model, CONFIG, List.of(batch), 5, tileable);
    assertTrue(untiled > 0 && tiled > 0, name);
  }
}
