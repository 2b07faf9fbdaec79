package io.headwise.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.headwise.graph.TestModels;
import io.headwise.jobs.cli.CliRunner;
import io.headwise.jobs.cli.CliRunner.Result;
import io.headwise.jobs.warehouse.PlanTables;
import io.headwise.jobs.warehouse.Warehouse;
import io.headwise.schemas.PlanRow;
import io.headwise.schemas.Tables;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import org.apache.spark.sql.Row;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * On retrieval-lm (a decoder trained so that a few heads retrieve and most are local), Razor, Duo
 * and MoA plans at KV fraction 0.3 for length 400 find its retrieval head, and the evaluation
 * confirms that copying survives the best plan while the uniform window of the same budget destroys
 * it. The scores behind each choice are printed.
 */
class RetrievalHeadsTest extends SparkTestBase {
  @TempDir static Path tmp;

  static Path warehouse;
  static String model;
  static Path heldOut;

  @BeforeAll
  static void profile() throws Exception {
    model = TestModels.retrievalLm().toString();
    warehouse = tmp.resolve("wh");
    Path calib =
        TestFiles.jsonlFromIds(
            TestModels.retrievalLmCalibration(), tmp.resolve("calib.jsonl"), "c");
    Path probes = tmp.resolve("probes.jsonl");
    heldOut = tmp.resolve("held-out.jsonl");
    for (Object[] p : new Object[][] {{probes, "1", "4"}, {heldOut, "999", "8"}}) {
      Result r =
          CliRunner.run(
              "calibrate",
              "--model",
              model,
              "--probes",
              "repeat",
              "--count",
              (String) p[2],
              "--probe-length",
              "401",
              "--repeat-period",
              "200",
              "--repeat-count",
              "2",
              "--id-range",
              "2:512",
              "--seed",
              (String) p[1],
              "--out",
              p[0].toString());
      assertEquals(0, r.exitCode(), r.err());
    }
    Result r =
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
            "r1");
    assertEquals(0, r.exitCode(), r.err());
    for (String method : List.of("razor", "duo", "moa")) {
      List<String> args =
          new ArrayList<>(
              List.of(
                  "plan",
                  "--method",
                  method,
                  "--warehouse",
                  warehouse.toString(),
                  "--stats-run",
                  "r1",
                  "--kv-fraction",
                  "0.3",
                  "--length",
                  "400",
                  "--plan-id",
                  "r-" + method));
      if (method.equals("moa")) {
        args.addAll(List.of("--option", "pareto_bins=0"));
      }
      r = CliRunner.run(args.toArray(new String[0]));
      assertEquals(0, r.exitCode(), method + ": " + r.err());
    }
  }

  /**
   * Echo/induction scores per (layer, kv head): max over the group's query heads, as Razor ranks
   * them.
   */
  static List<double[]> scores() {
    List<Row> rows =
        spark
            .read()
            .format("delta")
            .load(warehouse.resolve("head_stats").toString())
            .filter("run_id = 'r1' and stat in ('induction_score', 'echo_score')")
            .groupBy("layer", "kv_head")
            .pivot("stat")
            .max("value")
            .orderBy("layer", "kv_head")
            .collectAsList();
    List<double[]> out = new ArrayList<>();
    for (Row r : rows) {
      out.add(
          new double[] {
            r.getInt(0),
            r.getInt(1),
            r.getDouble(r.fieldIndex("induction_score")),
            r.getDouble(r.fieldIndex("echo_score"))
          });
    }
    return out;
  }

  @Test
  void razorDuoAndMoaKeepTheRetrievalHead() {
    List<double[]> scores = scores();
    System.out.println("retrieval-lm (layer, kv head): induction, echo");
    for (double[] s : scores) {
      System.out.printf(
          Locale.ROOT, "  (%d, %d): %.4f, %.4f%n", (int) s[0], (int) s[1], s[2], s[3]);
    }
    double[] top = scores.stream().max(Comparator.comparingDouble(s -> s[2])).orElseThrow();
    int topLayer = (int) top[0];
    int topKv = (int) top[1];
    double second =
        scores.stream().filter(s -> s != top).mapToDouble(s -> s[2]).max().orElseThrow();
    assertTrue(top[2] > 5 * second, "one head dominates induction: " + top[2] + " vs " + second);

    Warehouse w = new Warehouse(spark, warehouse);
    for (String method : List.of("razor", "duo")) {
      PlanTables.StoredPlan plan = PlanTables.read(w, "r-" + method, null);
      List<String> full =
          plan.rows().stream()
              .filter(r -> r.kind().equals(PlanRow.FULL))
              .map(r -> "(" + r.layer() + ", " + r.head() + ")")
              .toList();
      System.out.println(
          method + " keeps full: " + full + "; why: " + plan.rows().get(0).paramsJson());
      assertTrue(full.contains("(" + topLayer + ", " + topKv + ")"), method + " keeps " + full);
      if (method.equals("duo")) {
        // the evidence names the calibration sources of the bucket that decided it: the 401-token
        // repeat probes and the 512-token calibration ids share bucket 512
        String params = plan.rows().get(0).paramsJson();
        assertTrue(params.contains("\"sources\":{\"ids\":8,\"repeat\":4}"), params);
      }
      assertTrue(full.size() <= 6, method + " keeps too many heads full: " + full);
    }
    PlanTables.StoredPlan moa = PlanTables.read(w, "r-moa", null);
    // retrieval-lm is grouped-query (8 query heads, 4 kv heads): MoA plans one rule per kv-head
    // group by default
    assertTrue(
        moa.rows().stream().allMatch(r -> r.granularity().equals(PlanRow.KV_HEAD)),
        "moa granularity");
    List<PlanRow> bySpan = new ArrayList<>(moa.rows());
    bySpan.sort(Comparator.comparingDouble((PlanRow r) -> -r.keptTokens(400)));
    double threshold = bySpan.get(bySpan.size() / 8).keptTokens(400);
    PlanRow retrievalGroup =
        moa.rows().stream()
            .filter(r -> r.layer() == topLayer && r.head() == topKv)
            .findFirst()
            .orElseThrow();
    System.out.println(
        "moa span at 400 of the retrieval head's kv group: "
            + retrievalGroup.keptTokens(400)
            + " (top-eighth threshold "
            + threshold
            + ")");
    assertTrue(
        retrievalGroup.keptTokens(400) >= threshold,
        "moa gives the retrieval head " + retrievalGroup.keptTokens(400));
  }

  @Test
  void copyingSurvivesDuoButNotTheUniformWindow() {
    Result r =
        CliRunner.run(
            "evaluate",
            "--model",
            model,
            "--warehouse",
            warehouse.toString(),
            "--plan-id",
            "r-duo",
            "--samples",
            heldOut.toString(),
            "--run-id",
            "e-duo");
    assertEquals(0, r.exitCode(), r.err());
    System.out.println(r.out());
    List<Row> rows =
        spark
            .read()
            .format("delta")
            .load(warehouse.resolve("evaluations").toString())
            .filter("run_id = 'e-duo'")
            .collectAsList();
    assertEquals(2, rows.size());
    for (Row row : rows) {
      double acc = row.getDouble(row.fieldIndex("repeat_accuracy"));
      double dense = row.getDouble(row.fieldIndex("dense_repeat_accuracy"));
      assertTrue(dense > 0.7, "dense copies: " + dense);
      String against = row.getString(row.fieldIndex(Tables.AGAINST_UNIFORM));
      if (row.getBoolean(row.fieldIndex("baseline"))) {
        assertTrue(acc < 0.2 * dense, "uniform window keeps " + acc + " of " + dense);
        assertEquals(Tables.BASELINE_ROW, against);
      } else {
        assertEquals(Tables.NOT_WORSE, against);
        assertTrue(acc > 0.8 * dense, "duo keeps " + acc + " of " + dense);
        assertTrue(Math.abs(row.getDouble(row.fieldIndex("kv_fraction_target")) - 0.3) < 1e-9);
      }
    }
  }
}
