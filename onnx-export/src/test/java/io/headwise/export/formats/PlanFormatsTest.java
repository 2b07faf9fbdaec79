package io.headwise.export.formats;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.headwise.export.PlanParamsDoc;
import io.headwise.planners.HeadStatsTable;
import io.headwise.planners.KvPlanners;
import io.headwise.planners.Plan;
import io.headwise.planners.PlanRequest;
import io.headwise.planners.bench.SyntheticHeadStats;
import io.headwise.schemas.HeadwiseException;
import io.headwise.schemas.PlanMeta;
import io.headwise.schemas.PlanRow;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PlanFormatsTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  @TempDir Path tmp;

  // 3 layers, 8 query heads, 2 kv heads (g = 4)
  private static PlanMeta meta(String method) {
    return new PlanMeta(
        "p1", "model-a", "run-1", method, 0.5, List.of(1024), Map.of(1024, 0.5), 3, 8, 2, 0L);
  }

  private static PlanRow row(
      String granularity,
      int layer,
      int head,
      String kind,
      int sink,
      double alpha,
      double beta,
      int budget) {
    return new PlanRow(
        "p1",
        "model-a",
        "run-1",
        "duo",
        granularity,
        layer,
        head,
        kind,
        sink,
        alpha,
        beta,
        budget,
        "{}");
  }

  /** kv-head plan: kv head 1 of layer 1 full, everything else sink 4 + recent 60. */
  private static List<PlanRow> duoRows() {
    List<PlanRow> rows = new ArrayList<>();
    for (int l = 0; l < 3; l++) {
      for (int k = 0; k < 2; k++) {
        rows.add(
            l == 1 && k == 1
                ? row(PlanRow.KV_HEAD, l, k, PlanRow.FULL, 0, 0, 1, 0)
                : row(PlanRow.KV_HEAD, l, k, PlanRow.STREAMING, 4, 60, 0, 0));
      }
    }
    return rows;
  }

  @Test
  void duoWritesOneRowPerLayerAndOneColumnPerKvHead() throws IOException {
    Path out = tmp.resolve("duo");
    PlanFormats.get("duo").write(meta("duo"), duoRows(), out);
    List<String> lines = Files.readAllLines(out.resolve("full_attention_heads.tsv"));
    assertEquals(3, lines.size());
    // no per-head score in these rows: streaming heads in (layer, kv head) order below 0.5, the
    // full head above
    double[][] gates = DuoLoader.loadtxt(out.resolve("full_attention_heads.tsv"));
    assertEquals(1.0, gates[1][1], 1e-9);
    for (int l = 0; l < 3; l++) {
      for (int k = 0; k < 2; k++) {
        if (l != 1 || k != 1) {
          assertTrue(gates[l][k] >= 0 && gates[l][k] < 0.5, lines.toString());
        }
      }
    }
    assertTrue(
        gates[0][0] > gates[0][1] && gates[0][1] > gates[1][0],
        "earlier heads rank higher: " + lines);
    JsonNode config = JSON.readTree(out.resolve("config.json").toFile());
    assertEquals(4, config.get("sink_size").asInt());
    assertEquals(60, config.get("recent_size").asInt());
    assertEquals("p1", config.get("plan_id").asText());
    assertEquals("model-a", config.get("model_id").asText());
    assertEquals(5.0 / 6, config.get("sparsity").asDouble(), 1e-12);
    assertEquals(0.5, config.get("threshold").asDouble(), 0);
  }

  /**
   * The files read back by a faithful re-implementation of DuoAttention's loader (load_attn_pattern
   * + sparsify_attention_heads, with its tie-breaking noise) at the written sparsity give exactly
   * the plan's full heads, for many noise draws; at lower sparsities the next heads to become full
   * follow the planner's scores.
   */
  @Test
  void duoLoaderReproducesThePlanAndItsRanking() throws IOException {
    HeadStatsTable stats =
        HeadStatsTable.of(SyntheticHeadStats.generate("synthetic", 6, 8, 4, new int[] {1024}, 11));
    Plan duo =
        KvPlanners.plan(
            "duo",
            new PlanRequest(
                "duo-plan",
                stats,
                0.5,
                List.of(1024),
                Map.of("sink_tokens", "4", "recent_tokens", "60", "sizing", "deployment")));
    Path out = tmp.resolve("duo-loader");
    new DuoAttentionFormat().write(duo.meta(), duo.rows(), out);
    JsonNode config = JSON.readTree(out.resolve("config.json").toFile());
    double sparsity = config.get("sparsity").asDouble();
    boolean[][] planFull = new boolean[6][4];
    double[][] score = new double[6][4];
    for (PlanRow r : duo.rows()) {
      planFull[r.layer()][r.head()] = r.kind().equals(PlanRow.FULL);
      score[r.layer()][r.head()] = JSON.readTree(r.paramsJson()).get("score").asDouble();
    }
    Random noise = new Random(3);
    for (int draw = 0; draw < 50; draw++) {
      DuoLoader.Pattern p = DuoLoader.load(out);
      assertEquals(4, p.sinkSize());
      assertEquals(60, p.recentSize());
      boolean[][] full = DuoLoader.sparsify(p.gates(), null, sparsity, noise);
      for (int l = 0; l < 6; l++) {
        for (int k = 0; k < 4; k++) {
          assertEquals(
              planFull[l][k], full[l][k], "layer " + l + " kv head " + k + " at draw " + draw);
        }
      }
    }
    // Duo's own sparsify_attention_heads cannot be called with a threshold alone (None >= 1), which
    // is why the config and the docs name --sparsity only
    IllegalArgumentException noSparsity =
        assertThrows(
            IllegalArgumentException.class,
            () -> DuoLoader.sparsify(DuoLoader.load(out).gates(), 0.5, null, noise));
    assertTrue(noSparsity.getMessage().contains("TypeError"), noSparsity.getMessage());
    assertTrue(
        config.get("duo_loader").asText().contains("fails without a sparsity"),
        config.get("duo_loader").asText());
    // the planner's own params name the same sparsity (docs: DuoAttentionPlanner)
    assertEquals(
        JSON.readTree(duo.rows().get(0).paramsJson()).get("sparsity").asDouble(), sparsity, 1e-12);
    // one head fewer streaming: the streaming head with the highest score becomes full
    int total = 24;
    long streaming = Math.round(sparsity * total);
    boolean[][] more =
        DuoLoader.sparsify(DuoLoader.load(out).gates(), null, (streaming - 1.0) / total, noise);
    int promotedL = -1;
    int promotedK = -1;
    double best = Double.NEGATIVE_INFINITY;
    for (int l = 0; l < 6; l++) {
      for (int k = 0; k < 4; k++) {
        if (!planFull[l][k] && score[l][k] > best) {
          best = score[l][k];
          promotedL = l;
          promotedK = k;
        }
      }
    }
    for (int l = 0; l < 6; l++) {
      for (int k = 0; k < 4; k++) {
        assertEquals(
            planFull[l][k] || l == promotedL && k == promotedK,
            more[l][k],
            "layer " + l + ", " + k);
      }
    }
  }

  @Test
  void duoRefusesGrowingWindowsAndLeavesNothingBehind() throws IOException {
    List<PlanRow> rows = new ArrayList<>(duoRows());
    rows.set(2, row(PlanRow.KV_HEAD, 1, 0, PlanRow.STREAMING, 4, 0, 0.25, 0));
    Path out = tmp.resolve("refused");
    HeadwiseException e =
        assertThrows(
            HeadwiseException.class,
            () -> new DuoAttentionFormat().write(meta("streamingllm"), rows, out));
    assertTrue(e.getMessage().contains("layer 1, head 0"), e.getMessage());
    assertFalse(Files.exists(out));
    try (Stream<Path> left = Files.list(tmp)) {
      assertEquals(0, left.count(), "a failed export must leave no files");
    }
  }

  /**
   * A RazorAttention plan whose compressed heads carry the compensation entry is refused by every
   * engine format (none has the entry, so the engine would run another plan than the evaluated
   * one), naming the head and the plan to make instead; the same plan without the entry is written.
   */
  @Test
  void formatsWithoutACompensationEntryRefuseRazorPlansThatHaveOne() throws IOException {
    List<PlanRow> razor = new ArrayList<>();
    List<PlanRow> plain = new ArrayList<>();
    for (int l = 0; l < 3; l++) {
      for (int k = 0; k < 2; k++) {
        PlanRow r =
            l == 1
                ? row(PlanRow.KV_HEAD, l, k, PlanRow.FULL, 0, 0, 1, 0)
                : row(PlanRow.KV_HEAD, l, k, PlanRow.STREAMING, 0, 63, 0, 0);
        plain.add(r);
        razor.add(
            l == 1
                ? r
                : new PlanRow(
                    r.planId(),
                    r.modelId(),
                    r.statsRunId(),
                    "razor",
                    r.granularity(),
                    r.layer(),
                    r.head(),
                    r.kind(),
                    r.sinkTokens(),
                    r.alpha(),
                    r.beta(),
                    r.budgetTokens(),
                    "{\"compensation_tokens\":1}"));
      }
    }
    FormatOptions qwen2 = new FormatOptions("qwen2", false);
    for (String format : List.of("duo", "moa", "hf")) {
      Path out = tmp.resolve("razor-" + format);
      HeadwiseException e =
          assertThrows(
              HeadwiseException.class,
              () -> PlanFormats.get(format).write(meta("razor"), razor, out, qwen2));
      assertTrue(
          e.getMessage().contains("layer 0, head 0")
              && e.getMessage().contains("compensation entry")
              && e.getMessage().contains("compensation=none"),
          format + ": " + e.getMessage());
      assertFalse(Files.exists(out), format + " wrote files for a refused plan");
      PlanFormats.get(format).write(meta("razor"), plain, tmp.resolve("plain-" + format), qwen2);
    }
  }

  /** The params keys the formats read are documented as read by them (docs/plan-params.md). */
  @Test
  void keysTheFormatsReadAreDocumentedAsReadByThem() throws IOException {
    String compensation = PlanParamsDoc.readBy("razor", PlanGrid.COMPENSATION_TOKENS);
    assertTrue(compensation != null && compensation.contains("formats"), "razor: " + compensation);
    String score = PlanParamsDoc.readBy("duo", DuoAttentionFormat.SCORE_PARAM);
    assertTrue(score != null && score.contains("formats"), "duo: " + score);
  }

  @Test
  void moaWritesAlphasAndBetasPerLayerAndQueryHead() throws IOException {
    Path out = tmp.resolve("moa");
    List<String> warnings = PlanFormats.get("moa").write(meta("duo"), duoRows(), out);
    JsonNode json = JSON.readTree(out.resolve("moa_alpha_beta.json").toFile());
    assertEquals(3, json.get("alphas").size());
    assertEquals(8, json.get("alphas").get(0).size());
    assertEquals(3, json.get("betas").size());
    assertEquals(8, json.get("betas").get(2).size());
    assertEquals(64.0, json.get("alphas").get(0).get(0).asDouble(), 0); // 4 sinks + 60 recent
    assertEquals(0.0, json.get("betas").get(0).get(0).asDouble(), 0);
    // kv head 1 of layer 1 (query heads 4..7) is full: span N
    assertEquals(0.0, json.get("alphas").get(1).get(5).asDouble(), 0);
    assertEquals(1.0, json.get("betas").get(1).get(5).asDouble(), 0);
    assertEquals(64.0, json.get("alphas").get(1).get(3).asDouble(), 0);

    // MoA's engine: caches of at least 128 slots in multiples of 64, 64 sinks, MHA only
    assertEquals(128, MoaFormat.engineCache(64, 0, 1024));
    assertEquals(1024, MoaFormat.engineCache(0, 1, 1024));
    assertEquals(
        256, MoaFormat.engineCache(100.9, 0.125, 1024)); // int(228.9) = 228, rounded up to 256
    JsonNode notes = JSON.readTree(out.resolve("headwise_moa_export.json").toFile());
    // at N = 1024: 20 streaming query heads x 128 slots (their 64 tokens doubled) + 4 full x 1024
    double engine = (20 * 128 + 4 * 1024) / (24.0 * 1024);
    assertEquals(
        engine, notes.get("engine_kv_fraction_at_target_lengths").get("1024").asDouble(), 1e-12);
    assertEquals(3, warnings.size(), warnings.toString());
    assertTrue(
        warnings.get(0).contains("20 of 24") && warnings.get(0).contains("at least 128"),
        warnings.get(0));
    assertTrue(
        warnings.get(1).contains("64") && warnings.get(1).contains("4 sink tokens"),
        warnings.get(1));
    assertTrue(
        warnings.get(2).contains("MHA") && warnings.get(2).contains("4 caches per kv head"),
        warnings.get(2));
    assertEquals(warnings, JSON.convertValue(notes.get("warnings"), List.class));
  }

  @Test
  void moaRefusesBudgetHeads() {
    List<PlanRow> rows = new ArrayList<>(duoRows());
    rows.set(0, row(PlanRow.KV_HEAD, 0, 0, PlanRow.BUDGET, 0, 0, 0, 128));
    HeadwiseException e =
        assertThrows(
            HeadwiseException.class,
            () -> new MoaFormat().write(meta("ems"), rows, tmp.resolve("moa")));
    assertTrue(
        e.getMessage().contains("layer 0, head 0") && e.getMessage().contains("budget"),
        e.getMessage());
  }

  @Test
  void hfWritesLayerTypesForLayerUniformPlansAndRefusesOthersByLayer() throws IOException {
    List<PlanRow> uniform = new ArrayList<>();
    for (int l = 0; l < 3; l++) {
      for (int k = 0; k < 2; k++) {
        uniform.add(
            l == 0
                ? row(PlanRow.KV_HEAD, l, k, PlanRow.FULL, 0, 0, 1, 0)
                : row(PlanRow.KV_HEAD, l, k, PlanRow.STREAMING, 0, 512, 0, 0));
      }
    }
    FormatOptions qwen2 = new FormatOptions("qwen2", false);
    Path out = tmp.resolve("hf");
    assertEquals(List.of(), PlanFormats.get("hf").write(meta("streamingllm"), uniform, out, qwen2));
    JsonNode json = JSON.readTree(out.resolve("layer_types.json").toFile());
    assertEquals(
        List.of("full_attention", "sliding_attention", "sliding_attention"),
        JSON.convertValue(json.get("layer_types"), List.class));
    assertEquals(512, json.get("sliding_window").asInt());
    // Qwen2 sets sliding_window to None unless use_sliding_window; older versions slide layers >=
    // max_window_layers
    assertTrue(json.get("use_sliding_window").asBoolean());
    assertEquals(1, json.get("max_window_layers").asInt());

    HeadwiseException e =
        assertThrows(
            HeadwiseException.class,
            () ->
                new HfLayerTypesFormat().write(meta("duo"), duoRows(), tmp.resolve("hf2"), qwen2));
    assertTrue(
        e.getMessage().contains("layer 1") && e.getMessage().contains("not uniform"),
        e.getMessage());
    assertFalse(Files.exists(tmp.resolve("hf2")));

    List<PlanRow> twoWindows = new ArrayList<>(uniform);
    twoWindows.set(4, row(PlanRow.KV_HEAD, 2, 0, PlanRow.STREAMING, 0, 100, 0, 0));
    twoWindows.set(5, row(PlanRow.KV_HEAD, 2, 1, PlanRow.STREAMING, 0, 100, 0, 0));
    e =
        assertThrows(
            HeadwiseException.class,
            () -> new HfLayerTypesFormat().write(meta("x"), twoWindows, tmp.resolve("hf3"), qwen2));
    assertTrue(e.getMessage().contains("layer 2"), e.getMessage());
  }

  @Test
  void hfRefusesFamiliesThatIgnoreLayerTypesAndSinksUnlessDropped() throws IOException {
    List<PlanRow> withSinks = new ArrayList<>();
    for (int l = 0; l < 3; l++) {
      for (int k = 0; k < 2; k++) {
        withSinks.add(
            l == 1
                ? row(PlanRow.KV_HEAD, l, k, PlanRow.FULL, 0, 0, 1, 0)
                : row(PlanRow.KV_HEAD, l, k, PlanRow.STREAMING, 4, 508, 0, 0));
      }
    }
    for (String family : List.of("llama", "mistral")) {
      HeadwiseException e =
          assertThrows(
              HeadwiseException.class,
              () ->
                  new HfLayerTypesFormat()
                      .write(
                          meta("streamingllm"),
                          withSinks,
                          tmp.resolve(family),
                          new FormatOptions(family, true)));
      assertTrue(
          e.getMessage().contains(family) && e.getMessage().contains("ignores layer_types"),
          e.getMessage());
    }
    HeadwiseException e =
        assertThrows(
            HeadwiseException.class,
            () ->
                new HfLayerTypesFormat()
                    .write(
                        meta("streamingllm"),
                        withSinks,
                        tmp.resolve("none"),
                        FormatOptions.DEFAULTS));
    assertTrue(e.getMessage().contains("--hf-model-type"), e.getMessage());
    e =
        assertThrows(
            HeadwiseException.class,
            () ->
                new HfLayerTypesFormat()
                    .write(
                        meta("streamingllm"),
                        withSinks,
                        tmp.resolve("gpt2"),
                        new FormatOptions("gpt2", true)));
    assertTrue(
        e.getMessage().contains("gpt2") && e.getMessage().contains("qwen2, qwen3"), e.getMessage());

    e =
        assertThrows(
            HeadwiseException.class,
            () ->
                new HfLayerTypesFormat()
                    .write(
                        meta("streamingllm"),
                        withSinks,
                        tmp.resolve("sinks"),
                        new FormatOptions("qwen3", false)));
    assertTrue(
        e.getMessage().contains("4 attention-sink tokens")
            && e.getMessage().contains("--drop-sinks"),
        e.getMessage());
    assertFalse(Files.exists(tmp.resolve("sinks")));

    Path out = tmp.resolve("dropped");
    List<String> warnings =
        new HfLayerTypesFormat()
            .write(meta("streamingllm"), withSinks, out, new FormatOptions("qwen3", true));
    JsonNode json = JSON.readTree(out.resolve("layer_types.json").toFile());
    assertEquals(512, json.get("sliding_window").asInt());
    assertTrue(
        json.get("headwise_note").asText().contains("not the plan evaluated"), json.toString());
    assertTrue(warnings.stream().anyMatch(w -> w.contains("sink_tokens=0")), warnings.toString());
    // sliding layers 0 and 2 are not a suffix: pre-layer_types versions would slide layers >= 0
    assertTrue(
        warnings.stream().anyMatch(w -> w.contains("max_window_layers = 0")), warnings.toString());
  }

  @Test
  void refusesRowsOfAnotherModelOrPlanAndIncompletePlans() {
    List<PlanRow> rows = new ArrayList<>(duoRows());
    PlanRow r = rows.get(3);
    rows.set(
        3,
        new PlanRow(
            "p1",
            "model-b",
            "run-1",
            "duo",
            r.granularity(),
            r.layer(),
            r.head(),
            r.kind(),
            r.sinkTokens(),
            r.alpha(),
            r.beta(),
            r.budgetTokens(),
            "{}"));
    HeadwiseException e =
        assertThrows(
            HeadwiseException.class,
            () -> new MoaFormat().write(meta("duo"), rows, tmp.resolve("x")));
    assertTrue(e.getMessage().contains("model-b"), e.getMessage());
    e =
        assertThrows(
            HeadwiseException.class,
            () -> new MoaFormat().write(meta("duo"), duoRows().subList(0, 5), tmp.resolve("y")));
    assertTrue(e.getMessage().contains("no row for layer 2, head 1"), e.getMessage());
    e = assertThrows(HeadwiseException.class, () -> PlanFormats.get("vllm"));
    assertTrue(e.getMessage().contains("duo, moa, hf"), e.getMessage());
  }

  @Test
  void refusesANonEmptyOutputDirectory() throws IOException {
    Path out = Files.createDirectories(tmp.resolve("busy"));
    Files.writeString(out.resolve("keep.txt"), "x");
    HeadwiseException e =
        assertThrows(
            HeadwiseException.class,
            () -> new DuoAttentionFormat().write(meta("duo"), duoRows(), out));
    assertTrue(e.getMessage().contains("not empty"), e.getMessage());
    assertEquals("x", Files.readString(out.resolve("keep.txt")));
  }

  @Test
  void plannerOutputExportsWithTheModelShape() throws IOException {
    HeadStatsTable stats =
        HeadStatsTable.of(SyntheticHeadStats.generate("synthetic", 4, 8, 2, new int[] {1024}, 7));
    Plan duo =
        KvPlanners.plan(
            "duo",
            new PlanRequest(
                "duo-plan",
                stats,
                0.5,
                List.of(1024),
                Map.of("sink_tokens", "4", "recent_tokens", "60")));
    Path duoOut = tmp.resolve("duo-e2e");
    new DuoAttentionFormat().write(duo.meta(), duo.rows(), duoOut);
    List<String> lines = Files.readAllLines(duoOut.resolve("full_attention_heads.tsv"));
    assertEquals(4, lines.size());
    assertTrue(lines.stream().allMatch(line -> line.split("\t").length == 2), lines.toString());

    Plan moa =
        KvPlanners.plan(
            "moa",
            new PlanRequest(
                "moa-plan", stats, 0.5, List.of(1024), Map.of("time_limit_seconds", "10")));
    Path moaOut = tmp.resolve("moa-e2e");
    new MoaFormat().write(moa.meta(), moa.rows(), moaOut);
    JsonNode json = JSON.readTree(moaOut.resolve("moa_alpha_beta.json").toFile());
    assertEquals(4, json.get("alphas").size());
    for (JsonNode layer : json.get("alphas")) {
      assertEquals(8, layer.size());
    }
  }
}
