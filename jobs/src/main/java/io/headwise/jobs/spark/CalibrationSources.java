package io.headwise.jobs.spark;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.headwise.graph.AtomicFiles;
import io.headwise.jobs.warehouse.Warehouse;
import io.headwise.profilers.CalibrationSample;
import io.headwise.schemas.HeadwiseException;
import io.headwise.schemas.Json;
import io.headwise.schemas.Tables;
import java.io.BufferedReader;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;

/**
 * Reads calibration samples from {@code --calibration} sources: JSONL files (one object per line
 * with {@code input_ids} and optional {@code attention_mask}, {@code source}, {@code sample_id} and
 * probe fields), or Delta/Parquet tables with an {@code input_ids} column (a table with a {@code
 * model_id} column is filtered to the model). The result has the sample columns of {@code
 * calibration_samples}. {@link #writeJsonl} writes the same JSONL ({@code headwise calibrate
 * --out}), so the format lives in one class.
 */
public final class CalibrationSources {

  private CalibrationSources() {}

  /** All samples of all sources, as one DataFrame. */
  public static Dataset<Row> read(SparkSession spark, List<String> sources, String modelId) {
    if (sources == null || sources.isEmpty()) {
      throw new HeadwiseException(
          "no --calibration source given: pass a JSONL file or a Delta/Parquet table");
    }
    Dataset<Row> all = null;
    for (String src : sources) {
      Dataset<Row> d = readOne(spark, src, modelId);
      all = all == null ? d : all.unionByName(d);
    }
    return all;
  }

  private static Dataset<Row> readOne(SparkSession spark, String src, String modelId) {
    Path p = Path.of(src);
    if (!Files.exists(p)) {
      throw new HeadwiseException("calibration source not found: " + src);
    }
    if (Files.isRegularFile(p)
        && (src.endsWith(".jsonl") || src.endsWith(".json") || src.endsWith(".ndjson"))) {
      List<Row> rows = new ArrayList<>();
      for (CalibrationSample s : readJsonl(p)) {
        rows.add(CalibrationRows.toRow(s, null));
      }
      return spark.createDataFrame(rows, CalibrationRows.SAMPLE_SCHEMA);
    }
    Dataset<Row> d;
    if (Files.isDirectory(p.resolve("_delta_log"))) {
      d = spark.read().format("delta").load(src);
      if (Arrays.asList(d.columns()).contains(Tables.ATTEMPT_ID.getName())
          && p.toAbsolutePath()
              .normalize()
              .getFileName()
              .toString()
              .equals(Tables.CALIBRATION_SAMPLES.name())) {
        // a warehouse's calibration_samples: only the rows of succeeded, current attempts (see
        // CurrentRows)
        d =
            new Warehouse(spark, p.toAbsolutePath().normalize().getParent())
                .read(Tables.CALIBRATION_SAMPLES)
                .orElseThrow();
      }
    } else {
      try {
        d = spark.read().parquet(src);
      } catch (RuntimeException e) {
        throw new HeadwiseException(
            "calibration source "
                + src
                + " is neither a JSONL file nor a Delta/Parquet"
                + " table: "
                + e.getMessage(),
            e);
      }
    }
    List<String> cols = Arrays.asList(d.columns());
    if (!cols.contains("input_ids")) {
      throw new HeadwiseException(
          "calibration table " + src + " has no input_ids column (columns: " + cols + ")");
    }
    if (cols.contains("model_id")) {
      d = d.filter(functions.col("model_id").equalTo(modelId));
    }
    List<Column> select = new ArrayList<>();
    for (StructField f : CalibrationRows.SAMPLE_SCHEMA.fields()) {
      if (cols.contains(f.name())) {
        select.add(functions.col(f.name()).cast(f.dataType()).as(f.name()));
      } else if (f.name().equals("sample_id")) {
        select.add(
            functions
                .concat(
                    functions.lit(p.getFileName() + ":"),
                    functions.monotonically_increasing_id().cast(DataTypes.StringType))
                .as("sample_id"));
      } else if (f.name().equals("length")) {
        select.add(functions.size(functions.col("input_ids")).as("length"));
      } else if (f.name().equals("source")) {
        select.add(functions.lit(CalibrationSample.SOURCE_IDS).as("source"));
      } else {
        select.add(functions.lit(null).cast(f.dataType()).as(f.name()));
      }
    }
    return d.select(select.toArray(new Column[0]));
  }

  /** Reads a JSONL calibration file with errors naming the line. */
  public static List<CalibrationSample> readJsonl(Path file) {
    List<CalibrationSample> out = new ArrayList<>();
    String base = file.getFileName().toString();
    try (BufferedReader r = Files.newBufferedReader(file)) {
      String line;
      int n = 0;
      while ((line = r.readLine()) != null) {
        n++;
        if (line.isBlank()) {
          continue;
        }
        JsonNode o;
        try {
          o = Json.MAPPER.readTree(line);
        } catch (IOException e) {
          throw new HeadwiseException(
              "calibration file " + file + " line " + n + " is not valid JSON", e);
        }
        if (o == null || !o.isObject() || !o.has("input_ids") || !o.get("input_ids").isArray()) {
          throw new HeadwiseException(
              "calibration file "
                  + file
                  + " line "
                  + n
                  + " needs an object with an input_ids array");
        }
        int[] ids = ints(o.get("input_ids"), file, n, "input_ids");
        int[] mask =
            o.hasNonNull("attention_mask")
                ? ints(o.get("attention_mask"), file, n, "attention_mask")
                : null;
        String id = o.hasNonNull("sample_id") ? o.get("sample_id").asText() : base + ":" + n;
        String source =
            o.hasNonNull("source") ? o.get("source").asText() : CalibrationSample.SOURCE_IDS;
        try {
          out.add(
              new CalibrationSample(
                  id,
                  ids,
                  mask,
                  source,
                  intOr(o, "repeat_start"),
                  intOr(o, "repeat_period"),
                  intOr(o, "repeat_count"),
                  intOr(o, "needle_start"),
                  intOr(o, "needle_end"),
                  intOr(o, "answer_start"),
                  intOr(o, "answer_end")));
        } catch (HeadwiseException e) {
          throw new HeadwiseException(
              "calibration file " + file + " line " + n + ": " + e.getMessage(), e);
        }
      }
    } catch (IOException e) {
      throw new HeadwiseException(
          "cannot read calibration file " + file + ": " + e.getMessage(), e);
    }
    if (out.isEmpty()) {
      throw new HeadwiseException("calibration file " + file + " holds no samples");
    }
    return out;
  }

  private static int[] ints(JsonNode a, Path file, int line, String field) {
    if (!a.isArray()) {
      throw new HeadwiseException(
          "calibration file " + file + " line " + line + ": " + field + " must be an array");
    }
    int[] v = new int[a.size()];
    for (int i = 0; i < v.length; i++) {
      if (!a.get(i).isIntegralNumber()) {
        throw new HeadwiseException(
            "calibration file "
                + file
                + " line "
                + line
                + ": "
                + field
                + "["
                + i
                + "] is not an int");
      }
      v[i] = a.get(i).intValue();
    }
    return v;
  }

  private static int intOr(JsonNode o, String name) {
    return o.hasNonNull(name) ? o.get(name).asInt() : -1;
  }

  /** Writes samples as JSONL (temp file, then moved into place). */
  public static void writeJsonl(List<CalibrationSample> samples, Path out) throws IOException {
    ObjectMapper json = Json.MAPPER;
    AtomicFiles.writeText(
        out,
        w -> {
          for (CalibrationSample s : samples) {
            ObjectNode o = json.createObjectNode();
            o.put("sample_id", s.sampleId());
            o.set("input_ids", json.valueToTree(s.inputIds()));
            if (s.attentionMask() != null) {
              o.set("attention_mask", json.valueToTree(s.attentionMask()));
            }
            o.put("source", s.source());
            putIf(o, "repeat_start", s.repeatStart());
            putIf(o, "repeat_period", s.repeatPeriod());
            putIf(o, "repeat_count", s.repeatCount());
            putIf(o, "needle_start", s.needleStart());
            putIf(o, "needle_end", s.needleEnd());
            putIf(o, "answer_start", s.answerStart());
            putIf(o, "answer_end", s.answerEnd());
            w.write(o.toString());
            w.write('\n');
          }
        });
  }

  private static void putIf(ObjectNode o, String k, int v) {
    if (v >= 0) {
      o.put(k, v);
    }
  }
}
