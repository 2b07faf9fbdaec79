package io.headwise.jobs.warehouse;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.headwise.schemas.Json;
import io.headwise.schemas.Tables;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;

/** Builds the {@code runs} lineage row of a step. */
public final class RunRecords {

  private RunRecords() {}

  /** The runs row (status succeeded) for a step that wrote {@code rowCounts}. */
  public static Dataset<Row> row(
      Warehouse w,
      String runId,
      String step,
      String modelId,
      String modelSource,
      Instant started,
      Map<String, Object> config,
      Map<String, Long> rowCounts,
      String message) {
    ObjectNode cfg = Json.MAPPER.valueToTree(config);
    ObjectNode counts = Json.MAPPER.valueToTree(rowCounts);
    Row r =
        RowFactory.create(
            runId,
            step,
            modelId,
            modelSource,
            "succeeded",
            Timestamp.from(started),
            Timestamp.from(Instant.now()),
            cfg.toString(),
            Versions.json(w.spark()),
            counts.toString(),
            message);
    return w.rows(Tables.RUNS, List.of(r));
  }

  /**
   * The write of a step's runs row (status succeeded) with its replace keys: the last write of
   * every step's commit.
   */
  public static Warehouse.TableWrite write(
      Warehouse w,
      String runId,
      String step,
      String modelId,
      String modelSource,
      Instant started,
      Map<String, Object> config,
      Map<String, Long> rowCounts,
      String message) {
    return new Warehouse.TableWrite(
        Tables.RUNS,
        row(w, runId, step, modelId, modelSource, started, config, rowCounts, message),
        keys(modelId, runId, step));
  }

  /** The replace keys of a runs row. */
  public static Map<String, String> keys(String modelId, String runId, String step) {
    return Map.of("model_id", modelId, "run_id", runId, "step", step);
  }
}
