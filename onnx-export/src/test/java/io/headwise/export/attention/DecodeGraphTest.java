package io.headwise.export.attention;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnxruntime.OrtSession;
import io.headwise.graph.AttentionLocator;
import io.headwise.graph.AttentionMap;
import io.headwise.graph.OnnxModel;
import io.headwise.graph.OrtModels;
import io.headwise.graph.TestModels;
import io.headwise.profilers.IdArrays;
import io.headwise.schemas.HeadwiseException;
import io.headwise.schemas.PlanMeta;
import io.headwise.schemas.PlanRow;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Decode graphs on stories260k with its KV cache: the dense plan reproduces the model, a static
 * plan's decode logits equal the prefill simulation at every step, and each cache holds exactly
 * what the plan keeps.
 */
class DecodeGraphTest {
  private static final double TOLERANCE = 1e-4;

  static Path pastModel() {
    return TestModels.stories260k().resolveSibling("stories260k_past.onnx");
  }

  static long[] tokens(int length) throws Exception {
    int[][] calib = IdArrays.read(TestModels.stories260kCalibration(), "calib");
    long[] out = new long[length];
    for (int t = 0; t < length; t++) {
      out[t] = calib[0][t];
    }
    return out;
  }

  /**
   * Logits of the prefill simulation (the no-cache model rewritten with the plan) for one sequence
   * [T][vocab].
   */
  static float[][] prefill(OnnxModel model, ModelProto proto, long[] tokens) throws Exception {
    long[][] ids = {tokens};
    float[] flat =
        AttentionTestSupport.run(
                model, proto, ids, AttentionTestSupport.ones(ids), Set.of("logits"))
            .get("logits")
            .values();
    int vocab = flat.length / tokens.length;
    float[][] out = new float[tokens.length][vocab];
    for (int t = 0; t < tokens.length; t++) {
      System.arraycopy(flat, t * vocab, out[t], 0, vocab);
    }
    return out;
  }

  /**
   * Decode logits: the first {@code prompt} tokens in one chunk, then one token at a time
   * (teacher-forced).
   */
  static float[][] decode(
      OnnxModel decoder,
      ModelProto proto,
      long[] tokens,
      int prompt,
      Consumer<DecodeLoop> afterStep)
      throws Exception {
    float[][] out = new float[tokens.length][];
    try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
      options.setIntraOpNumThreads(1);
      try (OrtSession session = OrtModels.session(decoder, proto, options);
          DecodeLoop loop = new DecodeLoop(session, proto.getGraph())) {
        float[][] first = loop.stepAll(Arrays.copyOf(tokens, prompt));
        System.arraycopy(first, 0, out, 0, prompt);
        afterStep.accept(loop);
        for (int t = prompt; t < tokens.length; t++) {
          out[t] = loop.step(new long[] {tokens[t]});
          afterStep.accept(loop);
        }
      }
    }
    return out;
  }

  static double maxDifference(float[][] a, float[][] b) {
    double max = 0;
    for (int t = 0; t < a.length; t++) {
      for (int v = 0; v < a[t].length; v++) {
        max = Math.max(max, Math.abs(a[t][v] - b[t][v]));
      }
    }
    return max;
  }

  @Test
  void densePlanReproducesTheModelWithItsCache() throws Exception {
    OnnxModel plain = OnnxModel.load(TestModels.stories260k());
    OnnxModel decoder = OnnxModel.load(pastModel());
    AttentionMap map = AttentionLocator.locate(decoder);
    PlanMeta meta = AttentionTestSupport.meta(plain, map, "dense", "dense");
    DecodeGraphExporter.DecodeGraph graph =
        DecodeGraphExporter.rewrite(
            decoder, map, plain, meta, AttentionTestSupport.densePlan(meta, map));
    assertEquals(5, graph.groups().size(), "one full group per layer");
    long[] tokens = tokens(40);
    float[][] original = decode(decoder, decoder.proto(), tokens, 12, loop -> {});
    float[][] dense = decode(decoder, graph.proto(), tokens, 12, loop -> {});
    float[][] noCache = prefill(plain, plain.proto(), tokens);
    double vsOriginal = maxDifference(original, dense);
    double vsNoCache = maxDifference(noCache, dense);
    System.out.println(
        "dense decode graph: max |logit difference| vs the past model "
            + vsOriginal
            + ", vs the model without cache "
            + vsNoCache);
    assertTrue(vsOriginal <= TOLERANCE, "vs past model: " + vsOriginal);
    assertTrue(vsNoCache <= TOLERANCE, "vs no-cache model: " + vsNoCache);
  }

  @Test
  void staticPlanDecodesAsThePrefillSimulationWithBoundedCaches() throws Exception {
    OnnxModel plain = OnnxModel.load(TestModels.stories260k());
    OnnxModel decoder = OnnxModel.load(pastModel());
    AttentionMap plainMap = AttentionLocator.locate(plain);
    AttentionMap map = AttentionLocator.locate(decoder);
    PlanMeta meta = AttentionTestSupport.meta(plain, plainMap, "static", "moa");
    String g = PlanRow.KV_HEAD;
    List<PlanRow> rows =
        AttentionTestSupport.rows(
            plainMap,
            g,
            (l, h) ->
                switch ((h + l) % 4) {
                  case 0 -> AttentionTestSupport.full(meta, g, l, h);
                  case 1 -> AttentionTestSupport.streaming(meta, g, l, h, 2, 8, 0);
                  case 2 -> AttentionTestSupport.streaming(meta, g, l, h, 1, 2, 0.25);
                  default -> AttentionTestSupport.streaming(meta, g, l, h, 4, 6, 0);
                });
    long[] tokens = tokens(96);
    float[][] simulated =
        prefill(plain, HeadwiseAttentionExporter.rewrite(plain, plainMap, meta, rows), tokens);
    DecodeGraphExporter.DecodeGraph graph =
        DecodeGraphExporter.rewrite(decoder, map, plain, meta, rows);
    assertEquals(20, graph.groups().size(), "four policies per layer, one tensor each");
    long[] worstExcess = {0};
    float[][] decoded =
        decode(
            decoder,
            graph.proto(),
            tokens,
            20,
            loop -> {
              long n = loop.position();
              long expected = 0;
              for (DecodeCacheGroup group : graph.groups()) {
                long cached = group.cachedTokens(n);
                if (group.kind() != HeadwiseAttentionOp.KIND_FULL) {
                  float span = Math.max(0f, group.alpha() + group.beta() * (n + 1));
                  assertTrue(
                      cached <= group.sinkTokens() + (long) Math.ceil(span) - 1 || cached == n,
                      "group " + group + " caches " + cached + " at n=" + n);
                }
                expected += group.kvHeads().size() * cached * (8 + 8) * 4 + cached * 8;
              }
              worstExcess[0] = Math.max(worstExcess[0], Math.abs(loop.cacheBytes() - expected));
            });
    double diff = maxDifference(simulated, decoded);
    System.out.println("static plan decode vs prefill simulation: max |logit difference| " + diff);
    assertEquals(0, worstExcess[0], "cache bytes differ from what the plan keeps");
    assertTrue(diff <= TOLERANCE, "decode vs simulation " + diff);
    float[][] dense = prefill(plain, plain.proto(), tokens);
    assertTrue(maxDifference(dense, decoded) > 1e-2, "the plan should change the logits");
  }

  /**
   * RazorAttention's compensation entry over carried sums decodes as the prefill simulation
   * computes it.
   */
  @Test
  void compensatedPlanDecodesAsThePrefillSimulation() throws Exception {
    OnnxModel plain = OnnxModel.load(TestModels.stories260k());
    OnnxModel decoder = OnnxModel.load(pastModel());
    AttentionMap plainMap = AttentionLocator.locate(plain);
    AttentionMap map = AttentionLocator.locate(decoder);
    PlanMeta meta = AttentionTestSupport.meta(plain, plainMap, "razor", "razor");
    String g = PlanRow.KV_HEAD;
    List<PlanRow> rows =
        AttentionTestSupport.rows(
            plainMap,
            g,
            (l, h) ->
                switch ((h + l) % 3) {
                  case 0 -> AttentionTestSupport.full(meta, g, l, h);
                  case 1 -> AttentionTestSupport.compensated(meta, g, l, h, 2, 6, 0);
                  default -> AttentionTestSupport.compensated(meta, g, l, h, 1, 1, 0.2);
                });
    long[] tokens = tokens(80);
    float[][] simulated =
        prefill(plain, HeadwiseAttentionExporter.rewrite(plain, plainMap, meta, rows), tokens);
    DecodeGraphExporter.DecodeGraph graph =
        DecodeGraphExporter.rewrite(decoder, map, plain, meta, rows);
    assertTrue(graph.groups().stream().anyMatch(DecodeCacheGroup::compensation));
    float[][] decoded = decode(decoder, graph.proto(), tokens, 16, loop -> {});
    double diff = maxDifference(simulated, decoded);
    System.out.println(
        "compensated plan decode vs prefill simulation: max |logit difference| " + diff);
    assertTrue(diff <= TOLERANCE, "decode vs simulation " + diff);
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
    float[][] withoutEntry =
        prefill(plain, HeadwiseAttentionExporter.rewrite(plain, plainMap, meta, plainRows), tokens);
    assertTrue(maxDifference(withoutEntry, decoded) > 1e-2, "the entry should change the logits");
  }

  @Test
  void refusesAModelWithoutCacheAndAPlanOfAnotherModel(@TempDir Path dir) throws Exception {
    OnnxModel plain = OnnxModel.load(TestModels.stories260k());
    AttentionMap plainMap = AttentionLocator.locate(plain);
    PlanMeta meta = AttentionTestSupport.meta(plain, plainMap, "dense", "dense");
    List<PlanRow> rows = AttentionTestSupport.densePlan(meta, plainMap);
    Path out = dir.resolve("out.onnx");
    HeadwiseException noCache =
        assertThrows(
            HeadwiseException.class,
            () -> DecodeGraphExporter.export(plain, plainMap, plain, meta, rows, out));
    assertTrue(
        noCache.getMessage().contains("past key/value inputs")
            && noCache.getMessage().contains("text-generation-with-past"),
        noCache.getMessage());
    OnnxModel retrieval =
        OnnxModel.load(TestModels.retrievalLm().resolveSibling("retrieval_lm_past.onnx"));
    HeadwiseException other =
        assertThrows(
            HeadwiseException.class,
            () ->
                DecodeGraphExporter.export(
                    retrieval, AttentionLocator.locate(retrieval), plain, meta, rows, out));
    assertTrue(other.getMessage().contains("does not hold the weights"), other.getMessage());
    OnnxModel decoder = OnnxModel.load(pastModel());
    HeadwiseException wrongPlanModel =
        assertThrows(
            HeadwiseException.class,
            () ->
                DecodeGraphExporter.export(
                    decoder, AttentionLocator.locate(decoder), retrieval, meta, rows, out));
    assertTrue(
        wrongPlanModel.getMessage().contains("was made for model"), wrongPlanModel.getMessage());
    assertFalse(Files.exists(out));
    try (var files = Files.list(dir)) {
      assertEquals(0, files.count(), "nothing written");
    }
  }
}
