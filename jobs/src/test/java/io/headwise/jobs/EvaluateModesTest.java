package io.headwise.jobs;

import static org.apache.spark.sql.functions.lit;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.headwise.graph.AttentionLocator;
import io.headwise.graph.AttentionMap;
import io.headwise.graph.OnnxModel;
import io.headwise.graph.TestModels;
import io.headwise.jobs.cli.CliRunner;
import io.headwise.jobs.cli.CliRunner.Result;
import io.headwise.jobs.spark.SparkSchemas;
import io.headwise.jobs.warehouse.PlanTables;
import io.headwise.jobs.warehouse.RunRecords;
import io.headwise.jobs.warehouse.Warehouse;
import io.headwise.schemas.PlanMeta;
import io.headwise.schemas.PlanRow;
import io.headwise.schemas.Tables;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiFunction;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SaveMode;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code evaluations.mode} on stories260k: an evaluations table written before the column existed
 * is read as prefill and gains the column at the next write; {@code evaluate --decode} stores its
 * rows with mode decode (a static plan: the prefill simulation's numbers; H2O: its real eviction,
 * different from the simulation); the report labels each row's mode and plots H2O's decode number,
 * not its simulated one.
 */
@Tag("slow")
class EvaluateModesTest extends SparkTestBase {
  @TempDir static Path tmp;

  @Test
  void decodeEvaluationsAreStoredWithTheirModeAndOlderRowsReadAsPrefill() throws Exception {
    spark.conf().set("spark.databricks.delta.snapshotPartitions", "2");
    OnnxModel plain = OnnxModel.load(TestModels.stories260k());
    String model = TestModels.stories260k().toString();
    String decoder = TestModels.stories260k().resolveSibling("stories260k_past.onnx").toString();
    Path wh = tmp.resolve("warehouse");
    Warehouse w = new Warehouse(spark, wh);

    // an evaluations table as headwise wrote it before the mode column existed, with its runs row
    olderEvaluationsTable(w, plain.modelId());
    Row old = w.read(Tables.EVALUATIONS).orElseThrow().collectAsList().get(0);
    assertEquals("e-old", old.getString(old.fieldIndex("run_id")));
    assertEquals(Tables.MODE_PREFILL, old.getString(old.fieldIndex("mode")));

    AttentionMap map = AttentionLocator.locate(plain);
    storePlan(
        w,
        plain,
        map,
        "p-stream",
        "streamingllm",
        (meta, lh) -> row(meta, lh[0], lh[1], PlanRow.STREAMING, 2, 10, 0, "{}"));
    storePlan(
        w,
        plain,
        map,
        "p-h2o",
        "h2o",
        (meta, lh) ->
            row(meta, lh[0], lh[1], PlanRow.BUDGET, 0, 0, 12, "{\"recent_budget_tokens\":4}"));

    Path all =
        TestFiles.jsonlFromIds(TestModels.stories260kCalibration(), tmp.resolve("all.jsonl"), "s");
    // two held-out sequences, cut to 96 tokens: the decode evaluation runs one token per step
    List<String> lines = new ArrayList<>();
    for (String line : Files.readAllLines(all).subList(6, 8)) {
      lines.add(cut(line, 96));
    }
    Path held = Files.write(tmp.resolve("held.jsonl"), lines);

    Map<String, String> printed = new HashMap<>();
    for (String plan : List.of("p-stream", "p-h2o")) {
      for (boolean decode : new boolean[] {false, true}) {
        List<String> args =
            new ArrayList<>(
                List.of(
                    "evaluate",
                    "--model",
                    model,
                    "--warehouse",
                    wh.toString(),
                    "--plan-id",
                    plan,
                    "--samples",
                    held.toString(),
                    "--run-id",
                    (decode ? "d-" : "e-") + plan,
                    "--no-baseline",
                    "--threads",
                    "1"));
        if (decode) {
          args.addAll(List.of("--decode", "--decoder", decoder));
        }
        Result r = CliRunner.run(args.toArray(new String[0]));
        assertEquals(0, r.exitCode(), r.err());
        printed.put((decode ? "d-" : "e-") + plan, r.out());
      }
    }
    assertTrue(printed.get("d-p-h2o").contains("p-h2o (mode decode)"), printed.get("d-p-h2o"));
    assertTrue(
        printed.get("e-p-h2o").contains("(" + EvaluateJob.H2O_SIMULATED), printed.get("e-p-h2o"));

    Map<String, Row> byRun = new HashMap<>();
    for (Row r : w.read(Tables.EVALUATIONS).orElseThrow().collectAsList()) {
      byRun.put(r.getString(r.fieldIndex("run_id")), r);
    }
    assertEquals(5, byRun.size(), byRun.keySet().toString());
    assertEquals(Tables.MODE_PREFILL, mode(byRun.get("e-old")));
    assertEquals(Tables.MODE_PREFILL, mode(byRun.get("e-p-stream")));
    assertEquals(Tables.MODE_DECODE, mode(byRun.get("d-p-stream")));
    assertEquals(Tables.MODE_PREFILL, mode(byRun.get("e-p-h2o")));
    assertEquals(Tables.MODE_DECODE, mode(byRun.get("d-p-h2o")));
    // the older row is stored with null in the column the write added, and read as prefill
    Dataset<Row> raw = spark.read().format("delta").load(w.path(Tables.EVALUATIONS).toString());
    assertEquals(
        "mode",
        raw.columns()[Arrays.asList(raw.columns()).indexOf("method") + 1],
        "added after method");
    Row rawOld = raw.filter("run_id = 'e-old'").collectAsList().get(0);
    assertNull(rawOld.get(rawOld.fieldIndex("mode")));

    // a static plan: both paths implement the same plan
    double klPrefill = kl(byRun.get("e-p-stream"));
    double klDecode = kl(byRun.get("d-p-stream"));
    assertTrue(klPrefill > 1e-3, "the plan should cost something: " + klPrefill);
    assertEquals(klPrefill, klDecode, 1e-4 * klPrefill);
    assertEquals(
        byRun.get("e-p-stream").getLong(byRun.get("e-p-stream").fieldIndex("n_positions")),
        byRun.get("d-p-stream").getLong(byRun.get("d-p-stream").fieldIndex("n_positions")));
    // H2O: the simulation re-selects per query, the decode graph evicts for good
    double h2oPrefill = kl(byRun.get("e-p-h2o"));
    double h2oDecode = kl(byRun.get("d-p-h2o"));
    assertTrue(
        Math.abs(h2oPrefill - h2oDecode) > 1e-3 * h2oPrefill,
        "simulated " + h2oPrefill + " vs decoded " + h2oDecode);

    // the report labels each mode and plots H2O's decode number, not the simulated one
    Path out = tmp.resolve("report.html");
    Result r = CliRunner.run("report", "--warehouse", wh.toString(), "--out", out.toString());
    assertEquals(0, r.exitCode(), r.err());
    String html = Files.readString(out);
    assertTrue(html.contains("<th>mode</th>"), "mode column");
    assertTrue(html.contains("evaluated (d-p-h2o, decode graph)"), "plan card, decode first");
    assertTrue(html.contains("evaluated (e-p-h2o, prefill simulation, not H2O"));
    assertTrue(
        html.indexOf("evaluated (d-p-h2o, decode graph)")
            < html.indexOf("evaluated (e-p-h2o, prefill simulation"),
        "the decode number comes first");
    assertTrue(
        html.contains("not plotted, in the evaluations table: the prefill simulation of"),
        "note under the chart");
    assertTrue(html.contains("p-h2o (run e-p-h2o)"), "names the row left out");
    assertTrue(html.contains("h2o, decode graph"), "chart tooltip");
    // the decode row is H2O's own eviction: its chart tooltip carries no simulation label
    assertFalse(html.contains("eviction), decode graph"));
  }

  private static String cut(String jsonLine, int n) throws Exception {
    com.fasterxml.jackson.databind.ObjectMapper json =
        new com.fasterxml.jackson.databind.ObjectMapper();
    com.fasterxml.jackson.databind.node.ObjectNode o =
        (com.fasterxml.jackson.databind.node.ObjectNode) json.readTree(jsonLine);
    com.fasterxml.jackson.databind.node.ArrayNode ids =
        (com.fasterxml.jackson.databind.node.ArrayNode) o.get("input_ids");
    while (ids.size() > n) {
      ids.remove(ids.size() - 1);
    }
    return json.writeValueAsString(o);
  }

  private static String mode(Row r) {
    return r.getString(r.fieldIndex("mode"));
  }

  private static double kl(Row r) {
    return r.getDouble(r.fieldIndex("kl_mean"));
  }

  /**
   * The evaluations and runs tables with the columns headwise wrote before {@code mode} existed:
   * one evaluation (run e-old) and its runs row, both of attempt a-old.
   */
  private static void olderEvaluationsTable(Warehouse w, String modelId) {
    StructType current = SparkSchemas.stored(Tables.EVALUATIONS);
    List<StructField> fields = new ArrayList<>();
    for (StructField f : current.fields()) {
      if (!f.name().equals("mode") && !f.name().equals(Tables.AGAINST_UNIFORM)) {
        fields.add(f);
      }
    }
    StructType older = new StructType(fields.toArray(new StructField[0]));
    Row row =
        RowFactory.create(
            modelId,
            "e-old",
            "p-old",
            "duo",
            false,
            null,
            0.5,
            0.5,
            2,
            100L,
            0.1,
            0.9,
            0.01,
            null,
            null,
            null,
            null,
            null,
            Timestamp.from(Instant.now()),
            "a-old");
    spark
        .createDataFrame(List.of(row), older)
        .write()
        .format("delta")
        .mode(SaveMode.Append)
        .partitionBy("model_id")
        .save(w.path(Tables.EVALUATIONS).toString());
    RunRecords.row(w, "e-old", "evaluate", modelId, "test", Instant.now(), Map.of(), Map.of(), null)
        .withColumn(Tables.ATTEMPT_ID.getName(), lit("a-old"))
        .write()
        .format("delta")
        .mode(SaveMode.Append)
        .partitionBy("model_id")
        .save(w.path(Tables.RUNS).toString());
  }

  private static void storePlan(
      Warehouse w,
      OnnxModel m,
      AttentionMap map,
      String planId,
      String method,
      BiFunction<PlanMeta, int[], PlanRow> row) {
    PlanMeta meta =
        new PlanMeta(
            planId,
            m.modelId(),
            "s",
            method,
            0.3,
            List.of(96),
            Map.of(96, 0.3),
            map.numLayers(),
            map.block(0).numHeads(),
            map.block(0).numKvHeads(),
            0L);
    List<PlanRow> rows = new ArrayList<>();
    for (int l = 0; l < map.numLayers(); l++) {
      for (int h = 0; h < map.block(l).numKvHeads(); h++) {
        rows.add(row.apply(meta, new int[] {l, h}));
      }
    }
    w.commit(
        List.of(
            new Warehouse.TableWrite(
                Tables.ATTENTION_PLANS,
                w.rows(Tables.ATTENTION_PLANS, PlanTables.toRows(meta, rows)),
                Map.of("model_id", m.modelId(), "plan_id", planId)),
            new Warehouse.TableWrite(
                Tables.RUNS,
                RunRecords.row(
                    w,
                    planId,
                    PlanJob.STEP,
                    m.modelId(),
                    "test",
                    Instant.now(),
                    Map.of(),
                    Map.of(),
                    null),
                RunRecords.keys(m.modelId(), planId, PlanJob.STEP))),
        "test");
  }

  private static PlanRow row(
      PlanMeta meta,
      int layer,
      int head,
      String kind,
      int sink,
      double alpha,
      int budget,
      String params) {
    return new PlanRow(
        meta.planId(),
        meta.modelId(),
        meta.statsRunId(),
        meta.method(),
        PlanRow.KV_HEAD,
        layer,
        head,
        kind,
        sink,
        alpha,
        0,
        budget,
        params);
  }
}
