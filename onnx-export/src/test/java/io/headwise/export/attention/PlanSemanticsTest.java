package io.headwise.export.attention;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.ModelProto;
import io.headwise.graph.AttentionLocator;
import io.headwise.graph.AttentionMap;
import io.headwise.graph.OnnxModel;
import io.headwise.graph.TestModels;
import io.headwise.profilers.IdArrays;
import io.headwise.schemas.PlanMeta;
import io.headwise.schemas.PlanRow;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Streaming, elastic and budget plans exported as HeadwiseAttention equal a Java reference of the
 * same semantics.
 */
class PlanSemanticsTest {
  private static final double TOLERANCE = 1e-4;

  @Test
  void stories260kMixedKvHeadPlan() throws Exception {
    OnnxModel model = OnnxModel.load(TestModels.stories260k());
    AttentionMap map = AttentionLocator.locate(model);
    PlanMeta meta = AttentionTestSupport.meta(model, map, "mixed", "h2o");
    String g = PlanRow.KV_HEAD;
    List<PlanRow> rows =
        AttentionTestSupport.rows(
            map,
            g,
            (l, h) ->
                switch ((h + l) % 4) {
                  case 0 -> AttentionTestSupport.full(meta, g, l, h);
                  case 1 -> AttentionTestSupport.streaming(meta, g, l, h, 2, 8, 0);
                  case 2 -> AttentionTestSupport.streaming(meta, g, l, h, 1, 2, 0.25);
                  default -> AttentionTestSupport.budget(meta, g, l, h, 12, 4);
                });
    ModelProto exported = HeadwiseAttentionExporter.rewrite(model, map, meta, rows);
    // Layer 1: kv heads 0..3 are streaming, elastic, budget, full; query head h reads kv head h / 2
    // before repeat_kv.
    ReferenceAttention.Attributes layer1 =
        OpUnderTest.attributes(OpUnderTest.opNodes(exported).get(1));
    assertArrayEquals(new long[] {1, 1, 2, 2, 3, 3, 0, 0}, layer1.kinds());
    assertArrayEquals(new long[] {0, 0, 1, 1, 2, 2, 3, 3}, layer1.kvHeads());
    assertArrayEquals(new long[] {0, 0, 1, 1, 2, 2, 3, 3}, layer1.budgetGroups());
    assertArrayEquals(new long[] {0, 0, 0, 0, 12, 12, 0, 0}, layer1.budgetTokens());
    assertArrayEquals(new long[] {0, 0, 0, 0, 4, 4, 0, 0}, layer1.recentTokens());
    assertArrayEquals(new long[] {2, 2, 1, 1, 0, 0, 0, 0}, layer1.sinkTokens());
    assertArrayEquals(new float[] {8, 8, 2, 2, 0, 0, 0, 0}, layer1.alpha());
    assertArrayEquals(new float[] {0, 0, 0.25f, 0.25f, 0, 0, 0, 0}, layer1.beta());
    assertTrue(layer1.causal());
    int[][] calib = IdArrays.read(TestModels.stories260kCalibration(), "calib");
    long[][] ids = AttentionTestSupport.take(calib, 2, 48);
    long[][] mask = AttentionTestSupport.ones(ids);
    for (int t = 40; t < 48; t++) {
      mask[1][t] = 0; // right padding
    }
    float[] dense =
        AttentionTestSupport.run(model, model.proto(), ids, mask, Set.of("logits"))
            .get("logits")
            .values();
    float[] planned =
        AttentionTestSupport.run(model, exported, ids, mask, Set.of("logits"))
            .get("logits")
            .values();
    double change = 0;
    for (int i = 0; i < dense.length; i++) {
      change = Math.max(change, Math.abs(dense[i] - planned[i]));
    }
    assertTrue(change > 1e-2, "the plan should change the logits, changed by " + change);
    OpUnderTest.Comparison c = OpUnderTest.compare(model, exported, ids, mask);
    System.out.println(
        "stories260k mixed plan: max |op − reference| per layer "
            + Arrays.toString(c.maxDifference())
            + ", max |output| "
            + c.maxOutput()
            + ", min budget selection gap "
            + c.minSelectionGap());
    assertTrue(
        c.minSelectionGap() > 1e-6, "budget selection too close to a tie: " + c.minSelectionGap());
    assertTrue(c.worst() <= TOLERANCE, "max difference " + c.worst());
  }

  /**
   * RazorAttention's compensation entry on stories260k (kv-head plan, padded batch) and on the tiny
   * decoder at opsets 11 and 18: compensated streaming and elastic heads next to plain ones equal
   * the reference, and the entry changes the output of the heads that have it.
   */
  @Test
  void compensationEntryMatchesTheReference() throws Exception {
    OnnxModel model = OnnxModel.load(TestModels.stories260k());
    AttentionMap map = AttentionLocator.locate(model);
    PlanMeta meta = AttentionTestSupport.meta(model, map, "razor", "razor");
    String g = PlanRow.KV_HEAD;
    List<PlanRow> rows =
        AttentionTestSupport.rows(
            map,
            g,
            (l, h) ->
                switch ((h + l) % 4) {
                  case 0 -> AttentionTestSupport.full(meta, g, l, h);
                  case 1 -> AttentionTestSupport.compensated(meta, g, l, h, 2, 6, 0);
                  case 2 -> AttentionTestSupport.compensated(meta, g, l, h, 1, -1, 0.25);
                  default -> AttentionTestSupport.streaming(meta, g, l, h, 1, 4, 0);
                });
    List<PlanRow> plainRows =
        rows.stream()
            .map(
                r ->
                    new PlanRow(
                        r.planId(),
                        r.modelId(),
                        r.statsRunId(),
                        r.method(),
                        r.granularity(),
                        r.layer(),
                        r.head(),
                        r.kind(),
                        r.sinkTokens(),
                        r.alpha(),
                        r.beta(),
                        r.budgetTokens(),
                        "{}"))
            .toList();
    ModelProto exported = HeadwiseAttentionExporter.rewrite(model, map, meta, rows);
    ReferenceAttention.Attributes layer0 =
        OpUnderTest.attributes(OpUnderTest.opNodes(exported).get(0));
    assertArrayEquals(new long[] {0, 0, 1, 1, 1, 1, 0, 0}, layer0.compensation());
    int[][] calib = IdArrays.read(TestModels.stories260kCalibration(), "calib");
    long[][] ids = AttentionTestSupport.take(calib, 2, 48);
    long[][] mask = AttentionTestSupport.ones(ids);
    for (int t = 40; t < 48; t++) {
      mask[1][t] = 0;
    }
    OpUnderTest.Comparison c = OpUnderTest.compare(model, exported, ids, mask);
    System.out.println(
        "stories260k compensation: max |op − reference| per layer "
            + Arrays.toString(c.maxDifference()));
    assertTrue(c.worst() <= TOLERANCE, "max difference " + c.worst());
    float[] with =
        AttentionTestSupport.run(model, exported, ids, mask, Set.of("logits"))
            .get("logits")
            .values();
    float[] without =
        AttentionTestSupport.run(
                model,
                HeadwiseAttentionExporter.rewrite(model, map, meta, plainRows),
                ids,
                mask,
                Set.of("logits"))
            .get("logits")
            .values();
    double change = 0;
    for (int i = 0; i < with.length; i++) {
      change = Math.max(change, Math.abs(with[i] - without[i]));
    }
    assertTrue(
        change > 1e-3, "the compensation entry should change the logits, changed by " + change);
  }

  @ParameterizedTest
  @CsvSource({"11,CAUSAL_WHERE_THEN_PADDING_ADD", "18,CAUSAL_BOOL_WHERE_ADD"})
  void compensationEntryAtOldAndNewOpsets(
      int opset, TinyTransformer.Mask maskForm, @TempDir Path dir) throws Exception {
    TinyTransformer tiny = new TinyTransformer();
    tiny.opset = opset;
    tiny.mask = maskForm;
    OnnxModel model = tiny.write(dir, "tiny.onnx");
    AttentionMap map = AttentionLocator.locate(model);
    PlanMeta meta =
        AttentionTestSupport.meta(model, map, "razor-q", "h2o"); // h2o: the budget heads need it
    String g = PlanRow.QUERY_HEAD;
    List<PlanRow> rows =
        AttentionTestSupport.rows(
            map,
            g,
            (l, h) ->
                switch (h) {
                  case 0 -> AttentionTestSupport.full(meta, g, l, h);
                  case 1 -> AttentionTestSupport.compensated(meta, g, l, h, 1, 3, 0);
                  case 2 ->
                      AttentionTestSupport.compensated(
                          meta, g, l, h, 0, 0, 0); // keeps nothing: the entry alone
                  default -> AttentionTestSupport.budget(meta, g, l, h, 6, 2);
                });
    long[][] ids = new long[2][20];
    Random rnd = new Random(opset);
    for (long[] row : ids) {
      for (int t = 0; t < row.length; t++) {
        row[t] = 1 + rnd.nextInt(tiny.vocab - 1);
      }
    }
    long[][] mask = AttentionTestSupport.ones(ids);
    for (int t = 15; t < 20; t++) {
      mask[1][t] = 0;
    }
    OpUnderTest.Comparison c =
        OpUnderTest.compare(
            model, HeadwiseAttentionExporter.rewrite(model, map, meta, rows), ids, mask);
    System.out.println(
        "tiny decoder compensation, opset " + opset + ": max |op − reference| " + c.worst());
    assertTrue(c.worst() <= TOLERANCE, "opset " + opset + ": max difference " + c.worst());
  }

  /**
   * At every default-domain opset the body is written for, on a small GQA decoder: a per-query-head
   * plan with every kind (including h2o budget heads) equals the reference, and the dense plan
   * equals the original model.
   */
  @ParameterizedTest
  @CsvSource({
    "11,CAUSAL_WHERE_THEN_PADDING_ADD,true",
    "12,CAUSAL_BOOL_WHERE_ADD,false",
    "13,CAUSAL_WHERE_THEN_PADDING_ADD,false",
    "14,CAUSAL_BOOL_WHERE_ADD,true",
    "17,CAUSAL_WHERE_THEN_PADDING_ADD,true",
    "18,CAUSAL_BOOL_WHERE_ADD,false",
    "21,CAUSAL_WHERE_THEN_PADDING_ADD,true",
    "22,CAUSAL_BOOL_WHERE_ADD,true"
  })
  void everyOpsetAndMaskForm(
      int opset, TinyTransformer.Mask maskForm, boolean divideScores, @TempDir Path dir)
      throws Exception {
    TinyTransformer tiny = new TinyTransformer();
    tiny.opset = opset;
    tiny.mask = maskForm;
    tiny.divideScores = divideScores;
    OnnxModel model = tiny.write(dir, "tiny.onnx");
    AttentionMap map = AttentionLocator.locate(model);
    PlanMeta meta = AttentionTestSupport.meta(model, map, "mixed-q", "h2o");
    String g = PlanRow.QUERY_HEAD;
    List<PlanRow> rows =
        AttentionTestSupport.rows(
            map,
            g,
            (l, h) ->
                switch (h) {
                  case 0 -> AttentionTestSupport.full(meta, g, l, h);
                  case 1 -> AttentionTestSupport.streaming(meta, g, l, h, 1, 3, 0);
                  case 2 -> AttentionTestSupport.streaming(meta, g, l, h, 0, 1.5, 0.3);
                  default -> AttentionTestSupport.budget(meta, g, l, h, 6, 2);
                });
    long[][] ids = new long[2][20];
    Random rnd = new Random(opset);
    for (long[] row : ids) {
      for (int t = 0; t < row.length; t++) {
        row[t] = 1 + rnd.nextInt(tiny.vocab - 1);
      }
    }
    long[][] mask = AttentionTestSupport.ones(ids);
    for (int t = 15; t < 20; t++) {
      mask[1][t] = 0;
    }
    OpUnderTest.Comparison c =
        OpUnderTest.compare(
            model, HeadwiseAttentionExporter.rewrite(model, map, meta, rows), ids, mask);
    assertTrue(
        c.minSelectionGap() > 1e-6, "budget selection too close to a tie: " + c.minSelectionGap());
    System.out.println(
        "tiny decoder, opset " + opset + ", " + maskForm + ": max |op − reference| " + c.worst());
    assertTrue(c.worst() <= TOLERANCE, "opset " + opset + ": max difference " + c.worst());

    PlanMeta denseMeta = AttentionTestSupport.meta(model, map, "dense", "dense");
    ModelProto dense =
        HeadwiseAttentionExporter.rewrite(
            model, map, denseMeta, AttentionTestSupport.densePlan(denseMeta, map));
    float[] original =
        AttentionTestSupport.run(model, model.proto(), ids, mask, Set.of("hidden"))
            .get("hidden")
            .values();
    float[] exported =
        AttentionTestSupport.run(model, dense, ids, mask, Set.of("hidden")).get("hidden").values();
    double max = 0;
    for (int i = 0; i < original.length; i++) {
      if (mask[i / (20 * 32)][(i / 32) % 20] != 0) {
        max = Math.max(max, Math.abs(original[i] - exported[i]));
      }
    }
    assertTrue(max <= 1e-5, "opset " + opset + ": dense plan differs by " + max);
  }

  /**
   * Bidirectional (MiniLM, opset 11): spans are sized at n = Tk and the window is |i − j| &lt;
   * span.
   */
  @Test
  void miniLmStreamingPlanIsBidirectional() throws Exception {
    OnnxModel model = OnnxModel.load("default");
    AttentionMap map = AttentionLocator.locate(model);
    PlanMeta meta = AttentionTestSupport.meta(model, map, "stream", "streaming_llm");
    String g = PlanRow.KV_HEAD;
    List<PlanRow> rows =
        AttentionTestSupport.rows(
            map,
            g,
            (l, h) ->
                switch (h % 3) {
                  case 0 -> AttentionTestSupport.full(meta, g, l, h);
                  case 1 -> AttentionTestSupport.streaming(meta, g, l, h, 1, 3, 0);
                  default -> AttentionTestSupport.streaming(meta, g, l, h, 2, 0.5, 0.2);
                });
    long[][] ids = new long[2][16];
    long[][] mask = new long[2][16];
    Random rnd = new Random(3);
    for (int b = 0; b < 2; b++) {
      int length = b == 0 ? 16 : 11;
      for (int t = 0; t < 16; t++) {
        ids[b][t] =
            t >= length ? 0 : t == 0 ? 101 : t == length - 1 ? 102 : 1000 + rnd.nextInt(20000);
        mask[b][t] = t < length ? 1 : 0;
      }
    }
    OpUnderTest.Comparison c =
        OpUnderTest.compare(
            model, HeadwiseAttentionExporter.rewrite(model, map, meta, rows), ids, mask);
    System.out.println(
        "MiniLM streaming plan: max |op − reference| "
            + c.worst()
            + ", max |output| "
            + c.maxOutput());
    assertTrue(c.worst() <= TOLERANCE, "max difference " + c.worst());
  }

  /**
   * K/V that were repeated in a form the exporter does not walk through (Tile), or broadcast from
   * one kv head (MQA), are expanded to one per query head with the identity kv_heads mapping;
   * budget groups still follow the model's kv heads.
   */
  @ParameterizedTest
  @CsvSource({"TILE,2", "BROADCAST,1"})
  void unrecognisedRepeatsUseTheIdentityMapping(
      TinyTransformer.KvRepeat repeat, int kvHeads, @TempDir Path dir) throws Exception {
    TinyTransformer tiny = new TinyTransformer();
    tiny.kvRepeat = repeat;
    tiny.kvHeads = kvHeads;
    OnnxModel model = tiny.write(dir, "tiny.onnx");
    AttentionMap map = AttentionLocator.locate(model);
    assertTrue(
        map.block(0).numKvHeads() == kvHeads, "locator kv heads " + map.block(0).numKvHeads());
    PlanMeta meta = AttentionTestSupport.meta(model, map, "kv", "h2o");
    String g = PlanRow.KV_HEAD;
    List<PlanRow> rows =
        AttentionTestSupport.rows(
            map,
            g,
            (l, h) ->
                h == 0
                    ? AttentionTestSupport.budget(meta, g, l, h, 5, 2)
                    : AttentionTestSupport.streaming(meta, g, l, h, 1, 2, 0));
    HeadwiseAttentionExport summary =
        HeadwiseAttentionExporter.export(model, map, meta, rows, dir.resolve("out.onnx"));
    assertTrue(
        summary.kvInputs().stream().allMatch("repeated"::equals), summary.kvInputs().toString());
    ModelProto exported = HeadwiseAttentionExporter.rewrite(model, map, meta, rows);
    ReferenceAttention.Attributes layer0 =
        OpUnderTest.attributes(OpUnderTest.opNodes(exported).get(0));
    assertArrayEquals(new long[] {0, 1, 2, 3}, layer0.kvHeads());
    assertArrayEquals(
        kvHeads == 2 ? new long[] {0, 0, 1, 1} : new long[] {0, 0, 0, 0}, layer0.budgetGroups());
    long[][] ids = {{4, 8, 15, 16, 23, 42, 7, 1, 9, 33, 12, 5}};
    OpUnderTest.Comparison c =
        OpUnderTest.compare(model, exported, ids, AttentionTestSupport.ones(ids));
    assertTrue(
        c.minSelectionGap() > 1e-6, "budget selection too close to a tie: " + c.minSelectionGap());
    assertTrue(c.worst() <= TOLERANCE, repeat + ": max difference " + c.worst());
  }
}
