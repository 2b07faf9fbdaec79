package io.headwise.export.attention;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import io.headwise.export.attention.AttentionTestSupport.Output;
import io.headwise.graph.AttentionLocator;
import io.headwise.graph.AttentionMap;
import io.headwise.graph.FunctionInliner;
import io.headwise.graph.FusedFixtures;
import io.headwise.graph.OnnxModel;
import io.headwise.graph.Tensors;
import io.headwise.schemas.HeadwiseException;
import io.headwise.schemas.PlanMeta;
import io.headwise.schemas.PlanRow;
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

  /**
   * GroupQueryAttention with {@code softcap} (Gemma-2): the expansion's Div → Tanh → Mul is read
   * into the op's softcap attribute and the dense export reproduces the fused model (this export
   * was refused before HeadwiseAttention had a softcap).
   */
  @Test
  void softcappedGroupQueryAttention() throws Exception {
    FusedFixtures f = FusedFixtures.gqa();
    f.softcap = 2f;
    OnnxModel model = FusedFixtures.write(f.buildGqa(), dir, "gqa-softcap.onnx");
    ModelProto exported =
        check(model, "logits", f.vocab, AttentionCoreRewriter.KvSource.PRE_REPEAT);
    for (NodeProto n : OpUnderTest.opNodes(exported)) {
      assertEquals(2.0, OpUnderTest.attributes(n).softcap(), 1e-7, n.getName());
    }
  }

  /**
   * A StreamingLLM plan on the soft-capped GQA decoder: each op equals the direct computation (cap,
   * then the plan's and the model's mask, softmax, P·V) from its own inputs, and the logits move
   * measurably away from the dense export's.
   */
  @Test
  void softcappedGroupQueryAttentionStreamingPlan() throws Exception {
    FusedFixtures f = FusedFixtures.gqa();
    f.softcap = 2f;
    OnnxModel model = FusedFixtures.write(f.buildGqa(), dir, "gqa-softcap-streaming.onnx");
    AttentionMap map = AttentionLocator.locate(model);
    PlanMeta meta = AttentionTestSupport.meta(model, map, "streaming", "streaming_llm");
    var rows =
        AttentionTestSupport.rows(
            map,
            PlanRow.QUERY_HEAD,
            (l, h) -> AttentionTestSupport.streaming(meta, PlanRow.QUERY_HEAD, l, h, 1, 3, 0));
    ModelProto exported =
        AttentionCoreRewriter.rewrite(model, map, PlanResolver.resolve(model, map, meta, rows))
            .proto();
    long[][] ids = new long[2][12];
    long[][] mask = new long[2][12];
    Random rnd = new Random(5);
    for (int i = 0; i < 2; i++) {
      for (int j = 0; j < 12; j++) {
        ids[i][j] = 1 + rnd.nextInt(f.vocab - 1);
        mask[i][j] = 1;
      }
    }
    OpUnderTest.Comparison c = OpUnderTest.compare(model, exported, ids, mask);
    System.out.println("gqa softcap streaming: max |op − direct| = " + c.worst());
    assertTrue(c.worst() <= 1e-5, "max difference " + c.worst());
    float[] dense =
        AttentionTestSupport.run(model, model.proto(), ids, mask, Set.of("logits"))
            .get("logits")
            .values();
    float[] streaming =
        AttentionTestSupport.run(model, exported, ids, mask, Set.of("logits"))
            .get("logits")
            .values();
    double moved = 0;
    for (int i = 0; i < dense.length; i++) {
      moved = Math.max(moved, Math.abs(dense[i] - streaming[i]));
    }
    System.out.println("gqa softcap streaming: max |logits − dense logits| = " + moved);
    assertTrue(moved > 1e-3, "the streaming plan did not change the logits: " + moved);
  }

  /**
   * A Tanh whose surrounding factors do not cancel (Div(2) → Tanh → Mul(3)) is not a soft-cap the
   * op can express: one error naming the pattern.
   */
  @Test
  void unreadableSoftcapIsRefused() throws Exception {
    FusedFixtures f = FusedFixtures.gqa();
    f.softcap = 2f;
    ModelProto expanded = FunctionInliner.inline(f.buildGqa());
    var g = expanded.getGraph().toBuilder();
    String tanh =
        g.getNodeList().stream()
            .filter(n -> n.getOpType().equals("Tanh"))
            .findFirst()
            .orElseThrow()
            .getOutput(0);
    for (int i = 0; i < g.getNodeCount(); i++) {
      NodeProto n = g.getNode(i);
      if (n.getOpType().equals("Mul") && n.getInputList().contains(tanh)) {
        int other = n.getInput(0).equals(tanh) ? 1 : 0;
        g.setNode(i, n.toBuilder().setInput(other, "hw_test_three").build());
      }
    }
    g.addInitializer(Tensors.floatScalar("hw_test_three", 3f));
    OnnxModel model =
        FusedFixtures.write(expanded.toBuilder().setGraph(g).build(), dir, "gqa-bad-cap.onnx");
    AttentionMap map = AttentionLocator.locate(model);
    PlanMeta meta = AttentionTestSupport.meta(model, map, "dense", "dense");
    HeadwiseException e =
        assertThrows(
            HeadwiseException.class,
            () ->
                AttentionCoreRewriter.rewrite(
                    model,
                    map,
                    PlanResolver.resolve(
                        model, map, meta, AttentionTestSupport.densePlan(meta, map))));
    assertTrue(
        e.getMessage().contains("soft-capped by Tanh node")
            && e.getMessage().contains("do not form softcap·tanh(s/softcap)"),
        e.getMessage());
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

  private static ModelProto check(
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
    return exported;
  }
}
