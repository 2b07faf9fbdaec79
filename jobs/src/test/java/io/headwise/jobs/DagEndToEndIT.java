package io.headwise.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.headwise.graph.TestModels;
import io.headwise.jobs.spark.SparkSessions;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Runs, in order, exactly the spark-submit command lines one run of the {@code
 * headwise_stories260k} Airflow DAG submits (rendered from the DAG file by {@code
 * airflow-dags/tests/render_commands.py}), through the shaded jobs jar and Spark's own SparkSubmit
 * ({@code tools/spark-submit} as the connection's spark-submit, {@code local[2]} as its master), on
 * stories260k with small settings; then checks that the gate published a plan that serving teams
 * can read from {@code published_plans}, with its artifact, and held back exactly the plans it said
 * it held back.
 */
@Tag("slow")
class DagEndToEndIT {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String DAG_ID = "headwise_stories260k";
  private static final String RUN_ID = "manual__2026-01-02T03:04:05.678+00:00";
  private static final String RUN_KEY =
      "headwise_stories260k__manual__2026-01-02T03_04_05.678_00_00";
  private static final long STEP_TIMEOUT_MINUTES = 10;

  @TempDir static Path tmp;

  @Test
  void theDagsCommandLinesRunOnTheJobsJarAndPublishAPlan() throws Exception {
    Path repo = Path.of(System.getProperty("headwise.repo.dir", "..")).toAbsolutePath().normalize();
    Path jar = repo.resolve("jobs/target/headwise-jobs.jar");
    assertTrue(Files.isRegularFile(jar), "the jobs jar is built in package: " + jar);
    Path model = TestModels.stories260k();
    Path warehouse = tmp.resolve("warehouse");
    Path artifacts = tmp.resolve("artifacts");

    ObjectNode conf = JSON.createObjectNode();
    conf.put("model", model.toString());
    conf.put("warehouse", warehouse.toString());
    conf.put("artifacts", artifacts.toString());
    conf.putArray("methods").add("duo").add("razor");
    conf.putArray("probes").add("repeat").add("passkey");
    conf.put("probe_count", 4);
    conf.put("probe_length", 64);
    conf.putArray("lengths").add(64);
    conf.put("kv_fraction", 0.5);
    conf.put("driver_memory", "2g");
    conf.put("executor_memory", "1g");
    conf.put("quantize", true);
    conf.put("quant_method", "rtn");
    conf.put("quant_group", 32);
    // stories260k scores 0 on the probes even dense, so retention does not apply; KL against the
    // uniform baseline
    // does. Loose enough that a plan passes, tight enough to mean something.
    conf.put("gate_max_kl_ratio", 3.0);
    conf.put("gate_quant_max_kl", 1.0);
    conf.put("gate_quant_min_top1", 0.5);

    JsonNode rendered = render(repo, conf, jar);
    List<JsonNode> steps = new ArrayList<>();
    rendered.get("submissions").forEach(steps::add);
    List<String> tasks =
        steps.stream()
            .map(
                s ->
                    s.get("task_id").asText()
                        + (s.get("map_index").asInt() >= 0
                            ? "[" + s.get("map_index").asInt() + "]"
                            : ""))
            .toList();
    for (String t :
        List.of(
            "calibrate",
            "calibrate_heldout",
            "profile",
            "per_method.plan[0]",
            "per_method.plan[1]",
            "per_method.export[0]",
            "per_method.export[1]",
            "per_method.evaluate[0]",
            "per_method.evaluate[1]",
            "per_method.publish[0]",
            "per_method.publish[1]",
            "quantize",
            "publish_quantized",
            "report")) {
      assertTrue(tasks.contains(t), "the DAG run submits " + t + ": " + tasks);
    }
    assertEquals(14, steps.size(), tasks.toString());
    // every gate task signals the published_plans asset of the warehouse this run writes to (an
    // AssetAlias event), not the DAG's default warehouse
    String asset = "file://" + warehouse + "/published_plans";
    List<String> signalled = new ArrayList<>();
    rendered
        .get("asset_events")
        .forEach(
            e -> {
              assertEquals(asset, e.get("uri").asText(), e.toString());
              assertEquals("headwise-published-plans", e.get("alias").asText(), e.toString());
              signalled.add(
                  e.get("task_id").asText()
                      + (e.get("map_index").asInt() >= 0
                          ? "[" + e.get("map_index").asInt() + "]"
                          : ""));
            });
    assertEquals(
        List.of("per_method.publish[0]", "per_method.publish[1]", "publish_quantized"),
        signalled.stream().sorted().toList());

    Map<String, String> output = new LinkedHashMap<>();
    long t0 = System.nanoTime();
    for (int i = 0; i < steps.size(); i++) {
      JsonNode s = steps.get(i);
      List<String> argv = new ArrayList<>();
      s.get("argv").forEach(a -> argv.add(a.asText()));
      assertEquals("spark-submit", argv.get(0));
      assertTrue(argv.contains(jar.toString()), "the application is the jobs jar: " + argv);
      long t = System.nanoTime();
      String out =
          run(repo, argv, tmp.resolve(String.format(Locale.ROOT, "%02d-%s.log", i, tasks.get(i))));
      output.put(tasks.get(i), out);
      System.err.printf(
          Locale.ROOT,
          "DagEndToEndIT: %-20s %5.1f s%n",
          tasks.get(i),
          (System.nanoTime() - t) / 1e9);
    }
    System.err.printf(
        Locale.ROOT,
        "DagEndToEndIT: %d spark-submits in %.1f s%n",
        steps.size(),
        (System.nanoTime() - t0) / 1e9);

    Path report = artifacts.resolve(RUN_KEY).resolve("report.html");
    assertTrue(Files.size(report) > 1000, "report written: " + report);

    SparkSession spark = SparkSessions.get("local[1]", "headwise-dag-e2e-check");
    try {
      Map<String, Row> published = new LinkedHashMap<>();
      for (Row r :
          spark
              .read()
              .format("delta")
              .load(warehouse.resolve("published_plans").toString())
              .collectAsList()) {
        published.put(r.getString(r.fieldIndex("plan_id")), r);
      }
      int passed = 0;
      for (String method : List.of("duo", "razor")) {
        String planId = method + "-" + RUN_KEY;
        String said = output.get("per_method.publish[" + (method.equals("duo") ? 0 : 1) + "]");
        boolean publishedSaid = said.contains("publish: published " + planId);
        assertTrue(publishedSaid || said.contains("publish: held back " + planId), said);
        assertEquals(publishedSaid, published.containsKey(planId), planId + ": " + said);
        if (publishedSaid) {
          passed++;
          checkPublished(
              published.get(planId),
              planId,
              artifacts.resolve(RUN_KEY).resolve(planId + ".onnx"),
              method);
        }
      }
      assertTrue(
          passed >= 1,
          "the gate published a plan of this run: "
              + published.keySet()
              + "\n"
              + output.get("per_method.publish[0]")
              + "\n"
              + output.get("per_method.publish[1]"));

      String quantRun = "rtn4-" + RUN_KEY;
      String said = output.get("publish_quantized");
      boolean quantPublished = said.contains("publish: published " + quantRun);
      assertTrue(quantPublished || said.contains("publish: held back " + quantRun), said);
      assertEquals(quantPublished, published.containsKey(quantRun), said);
      if (quantPublished) {
        checkPublished(
            published.get(quantRun),
            quantRun,
            artifacts.resolve(RUN_KEY).resolve(quantRun + ".onnx"),
            "rtn");
      }
      // the rerun of a step with the DAG run's run id replaces rows: one evaluation row per plan
      // and baseline
      long evaluations =
          spark
              .read()
              .format("delta")
              .load(warehouse.resolve("evaluations").toString())
              .filter("run_id like '%" + RUN_KEY + "'")
              .count();
      assertEquals(2 * 2 + 1, evaluations);
    } finally {
      spark.stop();
      SparkSession.clearActiveSession();
      SparkSession.clearDefaultSession();
    }
  }

  private static void checkPublished(Row row, String planId, Path artifact, String method)
      throws IOException {
    assertEquals(planId, row.getString(row.fieldIndex("evaluation_run_id")));
    assertEquals(method, row.getString(row.fieldIndex("method")));
    assertEquals(artifact.toString(), row.getString(row.fieldIndex("artifact")));
    assertTrue(Files.isRegularFile(artifact), "published artifact exists: " + artifact);
    JsonNode gate = JSON.readTree(row.getString(row.fieldIndex("gate")));
    assertEquals("published", gate.get("decision").asText());
    boolean applied = false;
    for (JsonNode c : gate.get("checks")) {
      if (!c.has("skipped")) {
        applied = true;
        assertTrue(c.get("passed").asBoolean(), gate.toString());
      }
    }
    assertTrue(applied, "at least one threshold applied: " + gate);
  }

  /** The DAG run's submissions, rendered from the DAG file by the stdlib-only harness. */
  private static JsonNode render(Path repo, JsonNode conf, Path jar) throws Exception {
    Path confFile = tmp.resolve("conf.json");
    Files.writeString(confFile, conf.toString());
    Path json = tmp.resolve("commands.json");
    ProcessBuilder pb =
        new ProcessBuilder(
                "python3",
                "airflow-dags/tests/render_commands.py",
                "--dag-id",
                DAG_ID,
                "--conf",
                "@" + confFile,
                "--run-id",
                RUN_ID,
                "--master",
                "local[2]",
                "--jobs-jar",
                jar.toString())
            .directory(repo.toFile())
            .redirectOutput(json.toFile())
            .redirectError(ProcessBuilder.Redirect.INHERIT);
    Process p = pb.start();
    assertTrue(p.waitFor(2, TimeUnit.MINUTES), "render_commands.py finishes");
    assertEquals(0, p.exitValue(), "render_commands.py exit code");
    return JSON.readTree(json.toFile());
  }

  /**
   * Runs one command line as the operator would (spark-submit found on PATH); returns its output.
   */
  private static String run(Path repo, List<String> argv, Path log) throws Exception {
    // the worker's PATH has a spark-submit on it (here tools/spark-submit); look the binary up
    // there, as the
    // operator's subprocess call does (Java would search this JVM's PATH instead)
    String path = repo.resolve("tools") + ":" + System.getenv("PATH");
    List<String> command = new ArrayList<>(argv);
    command.set(0, which(argv.get(0), path));
    ProcessBuilder pb =
        new ProcessBuilder(command)
            .directory(tmp.toFile())
            .redirectErrorStream(true)
            .redirectOutput(log.toFile());
    pb.environment().put("PATH", path);
    // the worker's environment, not the command line: short-lived driver JVMs spend less CPU on C2
    // and GC threads
    pb.environment().put("SPARK_SUBMIT_OPTS", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC");
    Process p = pb.start();
    if (!p.waitFor(STEP_TIMEOUT_MINUTES, TimeUnit.MINUTES)) {
      p.destroyForcibly();
      fail("timed out after " + STEP_TIMEOUT_MINUTES + " min: " + String.join(" ", argv));
    }
    String out = Files.readString(log, StandardCharsets.UTF_8);
    if (p.exitValue() != 0) {
      fail("exit " + p.exitValue() + ": " + String.join(" ", argv) + "\n" + tail(out));
    }
    assertFalse(out.contains("Exception in thread \"main\""), out);
    return out;
  }

  private static String which(String program, String path) {
    for (String dir : path.split(":")) {
      Path p = Path.of(dir, program);
      if (Files.isExecutable(p)) {
        return p.toString();
      }
    }
    throw new AssertionError(program + " not found on " + path);
  }

  private static String tail(String s) {
    String[] lines = s.split("\n");
    return String.join("\n", List.of(lines).subList(Math.max(0, lines.length - 40), lines.length));
  }
}
