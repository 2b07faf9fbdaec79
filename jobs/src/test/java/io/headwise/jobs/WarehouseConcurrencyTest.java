package io.headwise.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.headwise.graph.TestModels;
import io.headwise.jobs.cli.Cli;
import io.headwise.jobs.cli.CliRunner;
import io.headwise.jobs.cli.HeadwiseCommand;
import io.headwise.jobs.warehouse.Warehouse;
import io.headwise.schemas.Tables;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.apache.spark.sql.Row;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Steps running in parallel on one warehouse (as the DAG runs plan/export/evaluate per method):
 * every step that reports success keeps its rows, on a new table and on an existing one, and no
 * stack trace reaches stderr. Steps run as threads of this JVM: each commits its own Delta
 * transactions, so they conflict exactly as separate processes do. Slow (minutes on a loaded 2-core
 * machine): a profile and a dozen plan steps.
 */
@Tag("slow")
class WarehouseConcurrencyTest extends SparkTestBase {
  private static final List<String> METHODS = List.of("streamingllm", "moa", "duo", "h2o");

  @TempDir static Path tmp;

  static String model;
  static Path calib;
  static Path shortCalib;
  static Path profiled;

  @BeforeAll
  static void profile() throws Exception {
    model = TestModels.stories260k().toString();
    List<String> lines =
        Files.readAllLines(
            TestFiles.jsonlFromIds(
                TestModels.stories260kCalibration(), tmp.resolve("all.jsonl"), "s"));
    calib = Files.write(tmp.resolve("calib.jsonl"), lines.subList(0, 3));
    shortCalib =
        Files.write(
            tmp.resolve("short.jsonl"),
            List.of(
                "{\"sample_id\":\"a\",\"input_ids\":[1,2,3,4,5,6,7,8]}",
                "{\"sample_id\":\"b\",\"input_ids\":[9,10,11,12,13,14,15,16,17,18,19,20]}"));
    profiled = tmp.resolve("wh");
    CliRunner.Result r =
        CliRunner.run(
            "profile",
            "--model",
            model,
            "--calibration",
            calib.toString(),
            "--warehouse",
            profiled.toString(),
            "--run-id",
            "s");
    assertEquals(0, r.exitCode(), r.err());
  }

  @Test
  void parallelPlansAllLandOnANewAndOnAnExistingTable() throws Exception {
    assertFalse(new Warehouse(spark, profiled).exists(Tables.ATTENTION_PLANS));
    List<String> expected = new ArrayList<>();
    for (int round = 0;
        round < 2;
        round++) { // round 0 creates attention_plans, round 1 appends to it
      List<List<String>> steps = new ArrayList<>();
      for (String m : METHODS) {
        String id = "c" + round + "_" + m;
        expected.add(id);
        steps.add(plan(m, id));
      }
      parallel(steps);
      assertPlans(expected);
    }
  }

  @Test
  void theSamePlanIdTwiceInParallelLeavesOnePlan() throws Exception {
    Path wh = profiled; // the other test's plan ids differ from this one
    parallel(List.of(plan("duo", "twice"), plan("duo", "twice")));
    Warehouse w = new Warehouse(spark, wh);
    // one duo plan: 5 layers x 4 kv heads
    assertEquals(
        5 * 4, w.read(Tables.ATTENTION_PLANS).orElseThrow().filter("plan_id = 'twice'").count());
    assertEquals(
        1, w.read(Tables.RUNS).orElseThrow().filter("step = 'plan' and run_id = 'twice'").count());
  }

  @Test
  void twoProfilesWithDifferentRunIdsBothLand() throws Exception {
    Path wh = tmp.resolve("profiles");
    List<List<String>> steps = new ArrayList<>();
    for (String run : List.of("p1", "p2")) {
      steps.add(
          List.of(
              "profile",
              "--model",
              model,
              "--calibration",
              shortCalib.toString(),
              "--warehouse",
              wh.toString(),
              "--run-id",
              run,
              "--threads",
              "1"));
    }
    parallel(steps);
    Warehouse w = new Warehouse(spark, wh);
    Map<String, Long> perRun = new HashMap<>();
    for (Row r :
        w.read(Tables.HEAD_STATS).orElseThrow().groupBy("run_id").count().collectAsList()) {
      perRun.put(r.getString(0), r.getLong(1));
    }
    assertEquals(2, perRun.size(), perRun.toString());
    assertEquals(perRun.get("p1"), perRun.get("p2"));
    assertTrue(
        perRun.get("p1") >= 5 * 8 * 10, perRun.toString()); // 16 statistics per head at bucket 16
    assertEquals(2, w.read(Tables.RUNS).orElseThrow().count());
    assertEquals(
        2 * 2 * 5,
        w.read(Tables.TOKEN_IMPORTANCE).orElseThrow().count()); // 2 runs x 2 samples x 5 layers
  }

  private void assertPlans(List<String> expected) {
    Map<String, Long> rows = new HashMap<>();
    for (Row r :
        new Warehouse(spark, profiled)
            .read(Tables.ATTENTION_PLANS)
            .orElseThrow()
            .filter("plan_id not like '%-pareto-%'")
            .groupBy("plan_id")
            .count()
            .collectAsList()) {
      rows.put(r.getString(0), r.getLong(1));
    }
    assertEquals(new TreeSet<>(expected), new TreeSet<>(rows.keySet()));
    rows.values().forEach(n -> assertTrue(n == 5 * 4 || n == 5 * 8, rows.toString()));
  }

  private static List<String> plan(String method, String id) {
    return List.of(
        "plan",
        "--method",
        method,
        "--warehouse",
        profiled.toString(),
        "--stats-run",
        "s",
        "--kv-fraction",
        "0.5",
        "--length",
        "256",
        "--plan-id",
        id);
  }

  /** Runs the commands at once; asserts each exits 0 and that stderr holds no stack trace. */
  private static void parallel(List<List<String>> commands) throws Exception {
    PrintStream oldErr = System.err;
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    List<Integer> codes = new ArrayList<>();
    ExecutorService pool = Executors.newFixedThreadPool(commands.size());
    try {
      System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
      List<Future<Integer>> futures = new ArrayList<>();
      for (List<String> c : commands) {
        futures.add(pool.submit(() -> Cli.run(new HeadwiseCommand(), c.toArray(new String[0]))));
      }
      for (Future<Integer> f : futures) {
        codes.add(f.get());
      }
    } finally {
      System.setErr(oldErr);
      pool.shutdownNow();
    }
    String e = err.toString(StandardCharsets.UTF_8);
    assertEquals(Collections.nCopies(commands.size(), 0), codes, e);
    assertFalse(e.contains("\tat ") || e.contains("Exception"), e);
  }
}
