package io.headwise.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.headwise.jobs.cli.CliRunner;
import io.headwise.jobs.cli.CliRunner.Result;
import io.headwise.jobs.warehouse.RunRecords;
import io.headwise.jobs.warehouse.Warehouse;
import io.headwise.schemas.Tables;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The publish gate on hand-made {@code evaluations} rows: plans that meet every applicable
 * threshold are published with their gate JSON and artifact, others are held back (exit 0, or 3
 * with --fail-if-held) and withdrawn if an earlier gate had published them; thresholds that do not
 * apply are skipped with a reason; bad input is refused.
 */
class PublishJobTest extends SparkTestBase {
  private static final String MODEL = "sha256:test";
  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir static Path tmp;
  static Path wh;

  @BeforeAll
  static void evaluations() {
    // small tables: rebuild Delta snapshots with few tasks
    spark.conf().set("spark.databricks.delta.snapshotPartitions", "2");
    wh = tmp.resolve("warehouse");
    Warehouse w = new Warehouse(spark, wh);
    List<Row> rows = new ArrayList<>();
    // decoder plan better than its uniform baseline, keeps 95 % of the dense repeat accuracy
    rows.add(eval("e1", "good", "duo", false, null, 0.5, 0.9, 0.95, 1.0, null, null, null));
    rows.add(
        eval(
            "e1",
            "good-uniform",
            "streamingllm",
            true,
            "good",
            1.0,
            0.8,
            0.5,
            1.0,
            null,
            null,
            null));
    // decoder plan worse than its baseline
    rows.add(eval("e2", "bad", "razor", false, null, 2.0, 0.5, null, null, null, null, null));
    rows.add(
        eval(
            "e2",
            "bad-uniform",
            "streamingllm",
            true,
            "bad",
            1.0,
            0.7,
            null,
            null,
            null,
            null,
            null));
    // encoder plan: only the cosine applies
    rows.add(eval("e3", "enc", "moa", false, null, null, null, null, null, null, null, 0.995));
    // dense plan: no baseline, dense scores 0 on the probes: no default threshold applies
    rows.add(eval("e4", "dense", "dense", false, null, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, null));
    // two plans in one run
    rows.add(eval("e5", "p1", "h2o", false, null, 0.1, 0.9, null, null, null, null, null));
    rows.add(eval("e5", "p2", "ems", false, null, 0.2, 0.9, null, null, null, null, null));
    // with the evaluate steps' runs rows: readers see only rows of attempts that have one
    Dataset<Row> runs = null;
    for (String run : List.of("e1", "e2", "e3", "e4", "e5")) {
      Dataset<Row> r =
          RunRecords.row(
              w, run, "evaluate", MODEL, "test", Instant.now(), Map.of(), Map.of(), null);
      runs = runs == null ? r : runs.union(r);
    }
    w.commit(
        List.of(
            new Warehouse.TableWrite(
                Tables.EVALUATIONS, w.rows(Tables.EVALUATIONS, rows), Map.of("model_id", MODEL)),
            new Warehouse.TableWrite(Tables.RUNS, runs, Map.of())),
        "test");
  }

  private static Row eval(
      String run,
      String plan,
      String method,
      boolean baseline,
      String baselineFor,
      Double kl,
      Double top1,
      Double repeat,
      Double denseRepeat,
      Double passkey,
      Double densePasskey,
      Double cosine) {
    return RowFactory.create(
        MODEL,
        run,
        plan,
        method,
        Tables.MODE_PREFILL,
        baseline,
        baselineFor,
        baseline ? Tables.BASELINE_ROW : Tables.NOT_WORSE,
        0.5,
        0.5,
        8,
        512L,
        kl,
        top1,
        kl == null ? null : 0.01,
        repeat,
        denseRepeat,
        passkey,
        densePasskey,
        cosine,
        Timestamp.from(Instant.now()));
  }

  private static Result publish(String... args) {
    List<String> a = new ArrayList<>(List.of("publish", "--warehouse", wh.toString()));
    a.addAll(List.of(args));
    return CliRunner.run(a.toArray(new String[0]));
  }

  private static Map<String, Row> published() {
    Map<String, Row> out = new LinkedHashMap<>();
    for (Row r :
        spark
            .read()
            .format("delta")
            .load(wh.resolve("published_plans").toString())
            .collectAsList()) {
      out.put(r.getString(r.fieldIndex("plan_id")), r);
    }
    return out;
  }

  private static Map<String, JsonNode> checks(Row published) throws Exception {
    Map<String, JsonNode> out = new LinkedHashMap<>();
    for (JsonNode c :
        JSON.readTree(published.getString(published.fieldIndex("gate"))).get("checks")) {
      out.put(c.get("name").asText(), c);
    }
    return out;
  }

  @Test
  void publishesWhatMeetsTheThresholdsAndHoldsBackTheRest() throws Exception {
    Path artifact = Files.writeString(tmp.resolve("good.onnx"), "graph");
    Result r = publish("--run-id", "e1", "--artifact", artifact.toString());
    assertEquals(0, r.exitCode(), r.err());
    assertTrue(r.out().contains("publish: published good: kl_ratio 0.5000 <= 1.000"), r.out());
    Row good = published().get("good");
    assertEquals("e1", good.getString(good.fieldIndex("evaluation_run_id")));
    assertEquals("duo", good.getString(good.fieldIndex("method")));
    assertEquals(artifact.toAbsolutePath().toString(), good.getString(good.fieldIndex("artifact")));
    Map<String, JsonNode> c = checks(good);
    assertEquals(0.5, c.get("kl_ratio").get("value").asDouble(), 1e-12);
    assertTrue(c.get("kl_ratio").get("passed").asBoolean());
    assertEquals(0.95, c.get("repeat_retention").get("value").asDouble(), 1e-12);
    assertEquals("threshold off", c.get("kl").get("skipped").asText());
    assertTrue(
        c.get("passkey_retention")
            .get("skipped")
            .asText()
            .contains("passkey probes among the held-out"));
    assertTrue(c.get("cosine").get("skipped").asText().contains("decoder"));
    assertEquals(
        1.0,
        JSON.readTree(good.getString(good.fieldIndex("gate")))
            .get("thresholds")
            .get("max_kl_ratio")
            .asDouble());

    r = publish("--run-id", "e2");
    assertEquals(0, r.exitCode(), r.err());
    assertTrue(r.out().contains("publish: held back bad: kl_ratio 2.000 not <= 1.000"), r.out());
    assertFalse(published().containsKey("bad"));
    assertEquals(PublishJob.EXIT_HELD, publish("--run-id", "e2", "--fail-if-held").exitCode());

    // looser gate publishes it; the default gate again withdraws it (the table holds the latest
    // decision)
    assertEquals(0, publish("--run-id", "e2", "--max-kl-ratio", "3").exitCode());
    assertTrue(published().containsKey("bad"));
    assertEquals(0, publish("--run-id", "e2").exitCode());
    assertFalse(published().containsKey("bad"));
    assertTrue(published().containsKey("good"), "other plans keep their rows");
    assertEquals(
        1,
        spark
            .read()
            .format("delta")
            .load(wh.resolve("published_plans").toString())
            .filter("plan_id = 'good'")
            .count());
  }

  @Test
  void thresholdsApplyOnlyToWhatWasMeasured() throws Exception {
    Result r = publish("--run-id", "e3");
    assertTrue(r.out().contains("publish: published enc: cosine 0.9950 >= 0.9900"), r.out());
    assertTrue(r.out().contains("kl_ratio (no next-token KL: encoder model)"), r.out());

    r = publish("--run-id", "e4");
    assertTrue(
        r.out().contains("publish: held back dense: no threshold applies to what was measured"),
        r.out());
    assertTrue(r.out().contains("the dense model scores 0 on the repeat probes"), r.out());
    assertTrue(r.out().contains("no uniform baseline in this run"), r.out());
    r = publish("--run-id", "e4", "--max-kl", "0.01", "--min-top1", "0.99");
    assertEquals(0, r.exitCode(), r.err());
    assertTrue(
        r.out().contains("publish: published dense: kl 0.000 <= 0.01000, top1 1.000 >= 0.9900"),
        r.out());
    assertEquals(
        "dense", published().get("dense").getString(published().get("dense").fieldIndex("method")));

    r = publish("--run-id", "e5", "--max-kl", "0.15");
    assertTrue(
        r.out().contains("publish: published p1") && r.out().contains("publish: held back p2"),
        r.out());
    assertTrue(r.out().contains("1 published, 1 held back"), r.out());
    // p1 is an h2o plan: its values come from the prefill simulation, and the line and the gate
    // JSON say so
    assertTrue(
        r.out().contains("publish: published p1")
            && r.out().contains("[values: " + EvaluateJob.H2O_SIMULATED + "]"),
        r.out());
    Row p1 = published().get("p1");
    assertTrue(
        p1.getString(p1.fieldIndex("gate")).contains(EvaluateJob.H2O_SIMULATED),
        p1.getString(p1.fieldIndex("gate")));

    long runs =
        spark
            .read()
            .format("delta")
            .load(wh.resolve("runs").toString())
            .filter("step = 'publish' and run_id = 'e5'")
            .count();
    assertEquals(1, runs);
    // the EMS plan meets the KL threshold but is experimental: held back whatever it measured
    r = publish("--run-id", "e5", "--max-kl", "0.5");
    assertTrue(
        r.out().contains("publish: held back p2") && r.out().contains("experimental"), r.out());
    assertTrue(r.out().contains("publish: published p1"), r.out());
  }

  @Test
  void badInputIsRefused() {
    Result r = publish("--run-id", "nope");
    assertEquals(2, r.exitCode());
    assertTrue(r.err().contains("no evaluations for run 'nope'"), r.err());
    r = publish("--run-id", "e1", "--plan-id", "other");
    assertEquals(2, r.exitCode());
    assertTrue(
        r.err().contains("plan 'other' has no evaluation in run 'e1' (evaluated: good)"), r.err());
    r = publish("--run-id", "e5", "--artifact", tmp.toString());
    assertEquals(2, r.exitCode());
    assertTrue(r.err().contains("has 2 plans to gate"), r.err());
    r = publish("--run-id", "e1", "--artifact", tmp.resolve("missing.onnx").toString());
    assertEquals(2, r.exitCode());
    assertTrue(r.err().contains("does not exist"), r.err());
    r = publish("--run-id", "e1", "--max-kl-ratio", "loose");
    assertEquals(2, r.exitCode());
    assertTrue(r.err().contains("neither a number nor 'off'"), r.err());
  }
}
