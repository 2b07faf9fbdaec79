package io.headwise.export.attention;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import io.headwise.export.attention.AttentionTestSupport.Output;
import io.headwise.graph.AttentionLocator;
import io.headwise.graph.AttentionMap;
import io.headwise.graph.FusedFixtures;
import io.headwise.graph.OnnxModel;
import io.headwise.schemas.PlanMeta;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Fused attention ops exported with the dense plan: every fused node becomes HeadwiseAttention
 * (none is left) and the exported model reproduces the fused model's outputs in ONNX Runtime within
 * 1e-5 on the valid positions of a right-padded batch; GQA kv heads are read before the expansion's
 * repeat_kv.
 */
class FusedDenseExportTest {
  @TempDir static Path dir;

  @Test
  void groupQueryAttentionDecoder() throws Exception {
    FusedFixtures f = FusedFixtures.gqa();
    check(
        FusedFixtures.write(f.buildGqa(), dir, "gqa.onnx"),
        "logits",
        f.vocab,
        AttentionCoreRewriter.KvSource.PRE_REPEAT);
  }

  @Test
  void onnxAttentionOpset23() throws Exception {
    for (boolean threeD : new boolean[] {false, true}) {
      FusedFixtures f = FusedFixtures.gqa();
      check(
          FusedFixtures.write(
              f.buildOnnxAttention(threeD), dir, "onnx-attention-" + threeD + ".onnx"),
          "logits",
          f.vocab,
          AttentionCoreRewriter.KvSource.PRE_REPEAT);
    }
  }

  @Test
  void ortOptimizerLayouts() throws Exception {
    for (FusedFixtures.OrtLayout layout : FusedFixtures.OrtLayout.values()) {
      FusedFixtures f = FusedFixtures.gqa();
      f.heads = 3;
      check(
          FusedFixtures.write(f.buildOrt(layout), dir, layout + ".onnx"),
          layout == FusedFixtures.OrtLayout.ATTENTION_DECODER ? "logits" : "last_hidden_state",
          f.vocab,
          AttentionCoreRewriter.KvSource.DIRECT);
    }
  }

  private static void check(
      OnnxModel model, String output, int vocab, AttentionCoreRewriter.KvSource kv)
      throws Exception {
    int b = 3;
    int t = 12;
    long[][] ids = new long[b][t];
    long[][] mask = new long[b][t];
    Random rnd = new Random(9);
    int[] lengths = {12, 8, 3};
    for (int i = 0; i < b; i++) {
      for (int j = 0; j < t; j++) {
        ids[i][j] = j < lengths[i] ? 1 + rnd.nextInt(vocab - 1) : 0;
        mask[i][j] = j < lengths[i] ? 1 : 0;
      }
    }
    AttentionMap map = AttentionLocator.locate(model);
    PlanMeta meta = AttentionTestSupport.meta(model, map, "dense", "dense");
    AttentionCoreRewriter.Result r =
        AttentionCoreRewriter.rewrite(
            model,
            map,
            PlanResolver.resolve(model, map, meta, AttentionTestSupport.densePlan(meta, map)));
    ModelProto exported = r.proto();
    assertEquals(List.of(kv, kv), r.kvSources(), model.source());
    assertEquals(
        map.numLayers(),
        exported.getGraph().getNodeList().stream()
            .filter(n -> n.getOpType().equals(HeadwiseAttentionOp.OP_TYPE))
            .count());
    for (NodeProto n : exported.getGraph().getNodeList()) {
      assertTrue(
          !n.getOpType().endsWith("Attention") || n.getOpType().equals(HeadwiseAttentionOp.OP_TYPE),
          n.getOpType() + " left in the export");
    }
    Output original =
        AttentionTestSupport.run(model, model.proto(), ids, mask, Set.of(output)).get(output);
    Output compressed =
        AttentionTestSupport.run(model, exported, ids, mask, Set.of(output)).get(output);
    assertArrayEquals(original.shape(), compressed.shape());
    int row = original.values().length / (b * t);
    double max = 0;
    for (int i = 0; i < b; i++) {
      for (int j = 0; j < lengths[i]; j++) {
        for (int x = 0; x < row; x++) {
          int at = (i * t + j) * row + x;
          max = Math.max(max, Math.abs(original.values()[at] - compressed.values()[at]));
        }
      }
    }
    System.out.println(model.source() + " dense plan: max |" + output + " difference| = " + max);
    assertTrue(max <= 1e-5, model.source() + ": max difference " + max);
  }
}
