package io.headwise.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.headwise.graph.TestModels;
import io.headwise.jobs.cli.CliRunner;
import io.headwise.jobs.cli.CliRunner.Result;
import io.headwise.jobs.warehouse.Warehouse;
import io.headwise.planners.HeadStatsTable;
import io.headwise.planners.KvFraction;
import io.headwise.planners.KvPlanners;
import io.headwise.planners.Plan;
import io.headwise.planners.PlanRequest;
import io.headwise.schemas.PlanRow;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every planner on real stories260k statistics (calibration ids plus repeat and passkey probes)
 * writes a complete, budget-respecting plan at KV fraction 0.5; the engine formats have the
 * documented shapes; bad requests fail by name.
 */
class PlanJobTest extends SparkTestBase {
  @TempDir static Path tmp;

  static Path warehouse;
  static String model;

  @BeforeAll
  static void profileStories() throws Exception {
    model = TestModels.stories260k().toString();
    warehouse = tmp.resolve("wh");
    Path calib =
        TestFiles.jsonlFromIds(
            TestModels.stories260kCalibration(), tmp.resolve("calib.jsonl"), "s");
    Path probes = tmp.resolve("probes.jsonl");
    Result r =
        CliRunner.run(
            "calibrate",
            "--model",
            model,
            "--probes",
            "repeat,passkey",
            "--count",
            "4",
            "--probe-length",
            "256",
            "--id-range",
            "3:512",
            "--out",
            probes.toString());
    assertEquals(0, r.exitCode(), r.err());
    r =
        CliRunner.run(
            "profile",
            "--model",
            model,
            "--calibration",
            calib.toString(),
            "--calibration",
            probes.toString(),
            "--warehouse",
            warehouse.toString(),
            "--run-id",
            "s1");
    assertEquals(0, r.exitCode(), r.err());
  }

  @Test
  void everyMethodMakesACompleteValidPlanFromTheRealStatistics() throws Exception {
    HeadStatsTable stats =
        HeadStatsTable.of(PlanJob.readStats(new Warehouse(spark, warehouse), "s1", null));
    assertEquals(5, stats.numLayers());
    assertEquals(8, stats.numHeads());
    assertEquals(4, stats.numKvHeads());
    for (String method : KvPlanners.methods()) {
      double f = method.equals("dense") ? 1.0 : 0.5;
      Plan plan =
          KvPlanners.plan(
              method,
              new PlanRequest(
                  "p-" + method,
                  stats,
                  f,
                  List.of(256),
                  method.equals("moa") ? Map.of("pareto_bins", "0") : Map.of()));
      boolean perKv = plan.rows().get(0).granularity().equals(PlanRow.KV_HEAD);
      assertEquals(5 * (perKv ? 4 : 8), plan.rows().size(), method);
      Set<String> seen = new HashSet<>();
      for (PlanRow row : plan.rows()) {
        assertTrue(
            row.layer() >= 0 && row.layer() < 5 && row.head() >= 0 && row.head() < (perKv ? 4 : 8),
            method);
        assertTrue(seen.add(row.layer() + "/" + row.head()), method + " repeats a head");
        assertEquals(stats.modelId(), row.modelId());
        new ObjectMapper().readTree(row.paramsJson());
      }
      double kept = KvFraction.at(plan.rows(), 256);
      assertEquals(kept, plan.meta().expectedKvFraction().get(256), 1e-9, method);
      if (!method.equals("dense")) {
        assertTrue(kept >= f - 0.1 && kept <= f + 0.02, method + " keeps " + kept);
      }
    }
  }

  @Test
  void duoAndMoaFormatsHaveTheDocumentedShapes() throws Exception {
    for (String method : List.of("duo", "moa")) {
      Result r =
          CliRunner.run(
              "plan",
              "--method",
              method,
              "--warehouse",
              warehouse.toString(),
              "--stats-run",
              "s1",
              "--kv-fraction",
              "0.5",
              "--length",
              "256",
              "--plan-id",
              "f-" + method,
              "--option",
              method.equals("moa") ? "pareto_bins=0" : "sink_tokens=64");
      assertEquals(0, r.exitCode(), r.err());
    }
    Path duo = tmp.resolve("duo-out");
    Result r =
        CliRunner.run(
            "export-format",
            "--warehouse",
            warehouse.toString(),
            "--plan-id",
            "f-duo",
            "--format",
            "duo",
            "--out",
            duo.toString());
    assertEquals(0, r.exitCode(), r.err());
    List<String> tsv = Files.readAllLines(duo.resolve("full_attention_heads.tsv"));
    assertEquals(5, tsv.size());
    for (String line : tsv) {
      String[] v = line.split("\t");
      assertEquals(4, v.length);
      for (String x : v) {
        double d = Double.parseDouble(x);
        assertTrue(d >= 0 && d <= 1, line);
      }
    }
    JsonNode config = new ObjectMapper().readTree(duo.resolve("config.json").toFile());
    assertTrue(config.has("sink_size") && config.has("recent_size"), config.toString());

    Path moa = tmp.resolve("moa-out");
    r =
        CliRunner.run(
            "export-format",
            "--warehouse",
            warehouse.toString(),
            "--plan-id",
            "f-moa",
            "--format",
            "moa",
            "--out",
            moa.toString());
    assertEquals(0, r.exitCode(), r.err());
    // the model is grouped-query: MoA's engine needs it converted to MHA, and the export says so
    assertTrue(r.err().contains("warning:") && r.err().contains("MHA"), r.err());
    JsonNode json = new ObjectMapper().readTree(moa.resolve("moa_alpha_beta.json").toFile());
    assertTrue(Files.exists(moa.resolve("headwise_moa_export.json")));
    assertEquals(5, json.get("alphas").size());
    assertEquals(5, json.get("betas").size());
    for (int l = 0; l < 5; l++) {
      assertEquals(8, json.get("alphas").get(l).size());
      assertEquals(8, json.get("betas").get(l).size());
    }
  }

  @Test
  void hfFormatRefusesLlamaByName() {
    Path out = tmp.resolve("hf-llama");
    Result r =
        CliRunner.run(
            "export-format",
            "--warehouse",
            warehouse.toString(),
            "--plan-id",
            "any",
            "--format",
            "hf",
            "--hf-model-type",
            "llama",
            "--out",
            out.toString());
    assertEquals(2, r.exitCode(), r.err());
    assertTrue(r.err().contains("llama ignores layer_types"), r.err());
    assertTrue(!Files.exists(out));
  }

  @Test
  void badRequestsFailByNameAndWriteNothing() {
    long before =
        spark.read().format("delta").load(warehouse.resolve("attention_plans").toString()).count();
    Result r =
        CliRunner.run(
            "plan",
            "--method",
            "moa",
            "--warehouse",
            warehouse.toString(),
            "--stats-run",
            "s1",
            "--kv-fraction",
            "1.5",
            "--length",
            "256",
            "--plan-id",
            "bad");
    assertEquals(2, r.exitCode());
    assertTrue(r.err().contains("outside (0, 1]"), r.err());
    r =
        CliRunner.run(
            "plan",
            "--method",
            "razor",
            "--warehouse",
            warehouse.toString(),
            "--stats-run",
            "nope",
            "--kv-fraction",
            "0.5",
            "--length",
            "256",
            "--plan-id",
            "bad");
    assertEquals(2, r.exitCode());
    assertTrue(r.err().contains("no head_stats rows for stats run 'nope'"), r.err());
    r =
        CliRunner.run(
            "plan",
            "--method",
            "duo",
            "--warehouse",
            warehouse.toString(),
            "--stats-run",
            "s1",
            "--kv-fraction",
            "0.5",
            "--length",
            "256",
            "--plan-id",
            "bad",
            "--model",
            "default");
    assertEquals(2, r.exitCode());
    assertTrue(r.err().contains("never made for another model"), r.err());
    r =
        CliRunner.run(
            "plan",
            "--method",
            "duo",
            "--warehouse",
            warehouse.toString(),
            "--stats-run",
            "s1",
            "--kv-fraction",
            "0.5",
            "--length",
            "256",
            "--plan-id",
            "bad",
            "--option",
            "no_such_option=1");
    assertEquals(2, r.exitCode());
    assertTrue(r.err().contains("no_such_option"), r.err());
    assertEquals(
        before,
        spark.read().format("delta").load(warehouse.resolve("attention_plans").toString()).count());
  }
}
