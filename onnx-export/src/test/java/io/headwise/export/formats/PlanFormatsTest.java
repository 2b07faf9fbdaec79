package io.headwise.export.formats;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
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
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PlanFormatsTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  @TempDir Path tmp;

  // 3 layers, 8 query heads, 2 kv heads (g = 4)
  private static PlanMeta meta(String method) {
    return new PlanMeta("p1", "model-a", "run-1", method, 0.5, List.of(1024), Map.of(1024, 0.5), 3, 8, 2, 0L);
  }

  private static PlanRow row(String granularity, int layer, int head, String kind, int sink, double alpha,
      double beta, int budget) {
    return new PlanRow("p1", "model-a", "run-1", "duo", granularity, layer, head, kind, sink, alpha, beta, budget,
        "{}");
  }

  /** kv-head plan: kv head 1 of layer 1 full, everything else sink 4 + recent 60. */
  private static List<PlanRow> duoRows() {
    List<PlanRow> rows = new ArrayList<>();
    for (int l = 0; l < 3; l++) {
      for (int k = 0; k < 2; k++) {
        rows.add(l == 1 && k == 1 ? row(PlanRow.KV_HEAD, l, k, PlanRow.FULL, 0, 0, 1, 0)
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
    assertEquals(List.of("0\t0", "0\t1", "0\t0"), lines);
    JsonNode config = JSON.readTree(out.resolve("config.json").toFile());
    assertEquals(4, config.get("sink_size").asInt());
    assertEquals(60, config.get("recent_size").asInt());
    assertEquals("p1", config.get("plan_id").asText());
    assertEquals("model-a", config.get("model_id").asText());
    assertEquals(5.0 / 6, config.get("sparsity").asDouble(), 1e-12);
  }

  @Test
  void duoAggregatesQueryHeadPlansWithMaxOverTheGroup() throws IOException {
    List<PlanRow> rows = new ArrayList<>();
    for (int l = 0; l < 3; l++) {
      for (int h = 0; h < 8; h++) {
        rows.add(l == 2 && h == 5 ? row(PlanRow.QUERY_HEAD, l, h, PlanRow.FULL, 0, 0, 1, 0)
            : row(PlanRow.QUERY_HEAD, l, h, PlanRow.ELASTIC, 4, 60, 0, 0));
      }
    }
    Path out = tmp.resolve("duo-q");
    new DuoAttentionFormat().write(meta("moa"), rows, out);
    assertEquals(List.of("0\t0", "0\t0", "0\t1"), Files.readAllLines(out.resolve("full_attention_heads.tsv")));
  }

  @Test
  void duoRefusesGrowingWindowsAndLeavesNothingBehind() throws IOException {
    List<PlanRow> rows = new ArrayList<>(duoRows());
    rows.set(2, row(PlanRow.KV_HEAD, 1, 0, PlanRow.STREAMING, 4, 0, 0.25, 0));
    Path out = tmp.resolve("refused");
    HeadwiseException e = assertThrows(HeadwiseException.class,
        () -> new DuoAttentionFormat().write(meta("streamingllm"), rows, out));
    assertTrue(e.getMessage().contains("layer 1, head 0"), e.getMessage());
    assertFalse(Files.exists(out));
    try (Stream<Path> left = Files.list(tmp)) {
      assertEquals(0, left.count(), "a failed export must leave no files");
    }
  }

  @Test
  void moaWritesAlphasAndBetasPerLayerAndQueryHead() throws IOException {
    Path out = tmp.resolve("moa");
    PlanFormats.get("moa").write(meta("duo"), duoRows(), out);
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
  }

  @Test
  void moaRefusesBudgetHeads() {
    List<PlanRow> rows = new ArrayList<>(duoRows());
    rows.set(0, row(PlanRow.KV_HEAD, 0, 0, PlanRow.BUDGET, 0, 0, 0, 128));
    HeadwiseException e = assertThrows(HeadwiseException.class,
        () -> new MoaFormat().write(meta("ems"), rows, tmp.resolve("moa")));
    assertTrue(e.getMessage().contains("layer 0, head 0") && e.getMessage().contains("budget"), e.getMessage());
  }

  @Test
  void hfWritesLayerTypesForLayerUniformPlansAndRefusesOthersByLayer() throws IOException {
    List<PlanRow> uniform = new ArrayList<>();
    for (int l = 0; l < 3; l++) {
      for (int k = 0; k < 2; k++) {
        uniform.add(l == 1 ? row(PlanRow.KV_HEAD, l, k, PlanRow.FULL, 0, 0, 1, 0)
            : row(PlanRow.KV_HEAD, l, k, PlanRow.STREAMING, 4, 508, 0, 0));
      }
    }
    Path out = tmp.resolve("hf");
    PlanFormats.get("hf").write(meta("streamingllm"), uniform, out);
    JsonNode json = JSON.readTree(out.resolve("layer_types.json").toFile());
    assertEquals(List.of("sliding_attention", "full_attention", "sliding_attention"),
        JSON.convertValue(json.get("layer_types"), List.class));
    assertEquals(512, json.get("sliding_window").asInt());

    HeadwiseException e = assertThrows(HeadwiseException.class,
        () -> new HfLayerTypesFormat().write(meta("duo"), duoRows(), tmp.resolve("hf2")));
    assertTrue(e.getMessage().contains("layer 1") && e.getMessage().contains("not uniform"), e.getMessage());
    assertFalse(Files.exists(tmp.resolve("hf2")));

    List<PlanRow> twoWindows = new ArrayList<>(uniform);
    twoWindows.set(4, row(PlanRow.KV_HEAD, 2, 0, PlanRow.STREAMING, 4, 100, 0, 0));
    twoWindows.set(5, row(PlanRow.KV_HEAD, 2, 1, PlanRow.STREAMING, 4, 100, 0, 0));
    e = assertThrows(HeadwiseException.class,
        () -> new HfLayerTypesFormat().write(meta("x"), twoWindows, tmp.resolve("hf3")));
    assertTrue(e.getMessage().contains("layer 2"), e.getMessage());
  }

  @Test
  void refusesRowsOfAnotherModelOrPlanAndIncompletePlans() {
    List<PlanRow> rows = new ArrayList<>(duoRows());
    PlanRow r = rows.get(3);
    rows.set(3, new PlanRow("p1", "model-b", "run-1", "duo", r.granularity(), r.layer(), r.head(), r.kind(),
        r.sinkTokens(), r.alpha(), r.beta(), r.budgetTokens(), "{}"));
    HeadwiseException e = assertThrows(HeadwiseException.class,
        () -> new MoaFormat().write(meta("duo"), rows, tmp.resolve("x")));
    assertTrue(e.getMessage().contains("model-b"), e.getMessage());
    e = assertThrows(HeadwiseException.class,
        () -> new MoaFormat().write(meta("duo"), duoRows().subList(0, 5), tmp.resolve("y")));
    assertTrue(e.getMessage().contains("no row for layer 2, head 1"), e.getMessage());
    e = assertThrows(HeadwiseException.class, () -> PlanFormats.get("vllm"));
    assertTrue(e.getMessage().contains("duo, moa, hf"), e.getMessage());
  }

  @Test
  void refusesANonEmptyOutputDirectory() throws IOException {
    Path out = Files.createDirectories(tmp.resolve("busy"));
    Files.writeString(out.resolve("keep.txt"), "x");
    HeadwiseException e = assertThrows(HeadwiseException.class,
        () -> new DuoAttentionFormat().write(meta("duo"), duoRows(), out));
    assertTrue(e.getMessage().contains("not empty"), e.getMessage());
    assertEquals("x", Files.readString(out.resolve("keep.txt")));
  }

  @Test
  void plannerOutputExportsWithTheModelShape() throws IOException {
    HeadStatsTable stats = HeadStatsTable.of(SyntheticHeadStats.generate("synthetic", 4, 8, 2,
        new int[] {1024}, 7));
    Plan duo = KvPlanners.plan("duo", new PlanRequest("duo-plan", stats, 0.5, List.of(1024),
        Map.of("sink_tokens", "4", "recent_tokens", "60")));
    Path duoOut = tmp.resolve("duo-e2e");
    new DuoAttentionFormat().write(duo.meta(), duo.rows(), duoOut);
    List<String> lines = Files.readAllLines(duoOut.resolve("full_attention_heads.tsv"));
    assertEquals(4, lines.size());
    assertTrue(lines.stream().allMatch(line -> line.split("\t").length == 2), lines.toString());

    Plan moa = KvPlanners.plan("moa", new PlanRequest("moa-plan", stats, 0.5, List.of(1024),
        Map.of("time_limit_seconds", "10")));
    Path moaOut = tmp.resolve("moa-e2e");
    new MoaFormat().write(moa.meta(), moa.rows(), moaOut);
    JsonNode json = JSON.readTree(moaOut.resolve("moa_alpha_beta.json").toFile());
    assertEquals(4, json.get("alphas").size());
    for (JsonNode layer : json.get("alphas")) {
      assertEquals(8, layer.size());
    }
  }
}
