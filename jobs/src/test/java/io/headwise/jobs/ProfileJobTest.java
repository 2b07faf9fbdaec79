package io.headwise.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.headwise.graph.TestModels;
import io.headwise.jobs.cli.CliRunner;
import io.headwise.jobs.cli.CliRunner.Result;
import io.headwise.jobs.warehouse.Warehouse;
import io.headwise.schemas.StatNames;
import io.headwise.schemas.Tables;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.Row;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Profiles stories260k with its calibration ids on local Spark: values equal {@code headwise
 * stats}, a rerun supersedes the earlier attempt for readers, and failed runs leave the tables
 * unchanged.
 */
class ProfileJobTest extends SparkTestBase {
  @TempDir static Path tmp;

  @Test
  void profileMatchesStatsRerunsReplaceAndFailuresCommitNothing() throws Exception {
    Path calib =
        TestFiles.jsonlFromIds(
            TestModels.stories260kCalibration(), tmp.resolve("calib.jsonl"), "s");
    Path wh = tmp.resolve("warehouse");
    String model = TestModels.stories260k().toString();
    // batches of 3 on Spark against `stats`' default of one sequence per run: batching must not
    // change the values
    Result r =
        CliRunner.run(
            "profile",
            "--model",
            model,
            "--calibration",
            calib.toString(),
            "--warehouse",
            wh.toString(),
            "--run-id",
            "r1",
            "--batch-size",
            "3");
    assertEquals(0, r.exitCode(), r.err());

    List<Row> rows =
        spark.read().format("delta").load(wh.resolve("head_stats").toString()).collectAsList();
    assertTrue(rows.size() > 5 * 8 * 20, "rows " + rows.size());
    Map<String, Double> profiled = new HashMap<>();
    for (Row row : rows) {
      assertEquals(256, row.getInt(row.fieldIndex("length_bucket")));
      profiled.put(
          row.getInt(row.fieldIndex("layer"))
              + "/"
              + row.getInt(row.fieldIndex("head"))
              + "/"
              + row.getString(row.fieldIndex("stat")),
          row.getDouble(row.fieldIndex("value")));
    }

    Result s =
        CliRunner.run(
            "stats",
            "--model",
            model,
            "--input-ids",
            TestModels.stories260kCalibration().toString(),
            "--json");
    assertEquals(0, s.exitCode(), s.err());
    JsonNode heads = new ObjectMapper().readTree(s.out()).get("heads");
    int compared = 0;
    for (JsonNode h : heads) {
      var fields = h.fields();
      while (fields.hasNext()) {
        var f = fields.next();
        if (List.of("layer", "head", "kv_head", "n_queries").contains(f.getKey())) {
          continue;
        }
        Double v =
            profiled.get(h.get("layer").asInt() + "/" + h.get("head").asInt() + "/" + f.getKey());
        assertTrue(v != null, "profile lacks " + f.getKey());
        assertEquals(f.getValue().asDouble(), v, 1e-6, f.getKey());
        compared++;
      }
    }
    // the profile also measures each layer's output KL (decoders), which the one-process stats
    // command does not: 5 layers x 8 query heads x 2 windows (a quarter and a half of 256)
    long layerKl =
        profiled.keySet().stream()
            .filter(
                k ->
                    k.endsWith("/" + StatNames.layerOutputKl(4, 64))
                        || k.endsWith("/" + StatNames.layerOutputKl(4, 128)))
            .count();
    assertEquals(5 * 8 * 2, layerKl);
    assertEquals(rows.size(), compared + layerKl);
    long importanceRows =
        spark.read().format("delta").load(wh.resolve("token_importance").toString()).count();
    assertEquals(8 * 5, importanceRows);

    // rerun with the same run id: appended under a new attempt that supersedes the first one for
    // readers
    r =
        CliRunner.run(
            "profile",
            "--model",
            model,
            "--calibration",
            calib.toString(),
            "--warehouse",
            wh.toString(),
            "--run-id",
            "r1");
    assertEquals(0, r.exitCode(), r.err());
    Warehouse w = new Warehouse(spark, wh);
    assertEquals(rows.size(), w.read(Tables.HEAD_STATS).orElseThrow().count());
    assertEquals(
        2L * rows.size(),
        spark.read().format("delta").load(wh.resolve("head_stats").toString()).count());
    assertEquals(1, w.read(Tables.RUNS).orElseThrow().count());
    // the runs row records --model as given: a string, not the option object holding it
    Row run = w.read(Tables.RUNS).orElseThrow().first();
    JsonNode recordedModel =
        new ObjectMapper().readTree(run.getString(run.fieldIndex("config"))).get("model");
    assertTrue(recordedModel.isTextual(), "config.model " + recordedModel);
    assertEquals(model, recordedModel.asText());
    List<Row> current =
        w.readWithAttempts(Tables.HEAD_STATS)
            .orElseThrow()
            .select("attempt_id")
            .distinct()
            .collectAsList();
    assertEquals(1, current.size());
    assertEquals(
        current.get(0).getString(0),
        w.readWithAttempts(Tables.RUNS)
            .orElseThrow()
            .first()
            .getString(
                w.readWithAttempts(Tables.RUNS).orElseThrow().first().fieldIndex("attempt_id")));

    // a corrupt model and a bad sample both fail with one line and leave every table as it was
    Map<String, Long> versions = versions(wh);
    Map<String, List<String>> files = files(wh);
    byte[] bytes = Files.readAllBytes(TestModels.stories260k());
    Path corrupt = tmp.resolve("corrupt.onnx");
    Files.write(corrupt, Arrays.copyOf(bytes, bytes.length / 2));
    r =
        CliRunner.run(
            "profile",
            "--model",
            corrupt.toString(),
            "--calibration",
            calib.toString(),
            "--warehouse",
            wh.toString(),
            "--run-id",
            "r2");
    assertEquals(2, r.exitCode(), r.err());
    assertTrue(r.err().contains("truncated"), r.err());
    Path bad = tmp.resolve("bad.jsonl");
    Files.writeString(bad, "{\"sample_id\": \"x\", \"input_ids\": [1, 2, 9999]}\n");
    r =
        CliRunner.run(
            "profile",
            "--model",
            model,
            "--calibration",
            bad.toString(),
            "--warehouse",
            wh.toString(),
            "--run-id",
            "r3");
    assertEquals(2, r.exitCode(), r.err());
    assertTrue(r.err().contains("outside the model's vocabulary"), r.err());
    assertEquals(versions, versions(wh));
    assertEquals(files, files(wh));
  }

  private static Map<String, Long> versions(Path wh) throws Exception {
    Map<String, Long> v = new HashMap<>();
    try (var s = Files.list(wh)) {
      for (Path t : s.toList()) {
        v.put(
            t.getFileName().toString(),
            io.delta.tables.DeltaTable.forPath(spark, t.toString())
                .history(1)
                .select("version")
                .first()
                .getLong(0));
      }
    }
    return v;
  }

  private static Map<String, List<String>> files(Path wh) throws Exception {
    Map<String, List<String>> v = new HashMap<>();
    try (var s = Files.walk(wh)) {
      for (Path p : s.filter(Files::isRegularFile).toList()) {
        v.computeIfAbsent(wh.relativize(p).getName(0).toString(), k -> new ArrayList<>())
            .add(wh.relativize(p).toString());
      }
    }
    v.values().forEach(Collections::sort);
    return v;
  }
}
