package io.headwise.jobs.quantize;

import io.headwise.jobs.spark.CalibrationRows;
import io.headwise.jobs.spark.CalibrationSources;
import io.headwise.profilers.CalibrationSample;
import io.headwise.profilers.IdArrays;
import io.headwise.schemas.HeadwiseException;
import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;

/**
 * Reads the quantize step's calibration and held-out samples: everything {@link CalibrationSources}
 * reads (JSONL, Delta, Parquet), plus JSON files holding one array of token-id arrays (e.g. a
 * model's {@code calib_ids.json}), whose samples are named {@code <file>:<index>}.
 */
public final class QuantizeSamples {
  private QuantizeSamples() {}

  /** All samples of {@code sources} as one DataFrame with the calibration sample columns. */
  public static Dataset<Row> read(
      SparkSession spark, List<String> sources, String modelId, String option) {
    if (sources == null || sources.isEmpty()) {
      throw new HeadwiseException(
          "no "
              + option
              + " source given: pass a JSONL file, a JSON array of token-id"
              + " arrays, or a Delta/Parquet table");
    }
    Dataset<Row> all = null;
    for (String src : sources) {
      Dataset<Row> d =
          isIdArrays(Path.of(src))
              ? idArrays(spark, Path.of(src), option)
              : CalibrationSources.read(spark, List.of(src), modelId);
      all = all == null ? d : all.unionByName(d);
    }
    return all;
  }

  /** Whether {@code p} is a JSON file whose first non-blank character opens an array. */
  static boolean isIdArrays(Path p) {
    if (!Files.isRegularFile(p) || !p.getFileName().toString().endsWith(".json")) {
      return false;
    }
    try (Reader r = Files.newBufferedReader(p)) {
      int c;
      while ((c = r.read()) >= 0) {
        if (!Character.isWhitespace(c)) {
          return c == '[';
        }
      }
      return false;
    } catch (IOException e) {
      throw new HeadwiseException("cannot read " + p + ": " + e.getMessage(), e);
    }
  }

  private static Dataset<Row> idArrays(SparkSession spark, Path file, String option) {
    int[][] ids = IdArrays.read(file, option);
    List<Row> rows = new ArrayList<>(ids.length);
    String base = file.getFileName().toString();
    for (int i = 0; i < ids.length; i++) {
      rows.add(
          CalibrationRows.toRow(
              CalibrationSample.of(base + ":" + i, ids[i], null, CalibrationSample.SOURCE_IDS),
              null));
    }
    return spark.createDataFrame(rows, CalibrationRows.SAMPLE_SCHEMA);
  }
}
