package io.headwise.jobs.spark;

import io.headwise.profilers.CalibrationSample;
import io.headwise.schemas.Tables;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

/** Converts calibration samples to and from rows of the {@code calibration_samples} schema. */
public final class CalibrationRows {
  /** The sample columns of calibration_samples (without model_id and run_id). */
  public static final StructType SAMPLE_SCHEMA;

  static {
    List<StructField> fields = new ArrayList<>();
    for (StructField f : SparkSchemas.of(Tables.CALIBRATION_SAMPLES).fields()) {
      if (!f.name().equals("model_id") && !f.name().equals("run_id")) {
        fields.add(f);
      }
    }
    SAMPLE_SCHEMA = new StructType(fields.toArray(new StructField[0]));
  }

  private CalibrationRows() {}

  /** A row of {@link #SAMPLE_SCHEMA}. */
  public static Row toRow(CalibrationSample s, Long seed) {
    return RowFactory.create(
        s.sampleId(),
        boxed(s.inputIds()),
        s.attentionMask() == null ? null : boxed(s.attentionMask()),
        s.source(),
        s.length(),
        opt(s.repeatStart()),
        opt(s.repeatPeriod()),
        opt(s.repeatCount()),
        opt(s.needleStart()),
        opt(s.needleEnd()),
        opt(s.answerStart()),
        opt(s.answerEnd()),
        seed);
  }

  /** A full calibration_samples row. */
  public static Row toTableRow(String modelId, String runId, CalibrationSample s, Long seed) {
    Row r = toRow(s, seed);
    Object[] v = new Object[r.length() + 2];
    v[0] = modelId;
    v[1] = runId;
    for (int i = 0; i < r.length(); i++) {
      v[i + 2] = r.get(i);
    }
    return RowFactory.create(v);
  }

  /** A sample from a row with (at least) sample_id and input_ids; other columns are optional. */
  public static CalibrationSample fromRow(Row r) {
    String id = String.valueOf(r.get(r.fieldIndex("sample_id")));
    int[] ids = ints(r.getList(r.fieldIndex("input_ids")));
    int[] mask =
        has(r, "attention_mask") && !r.isNullAt(r.fieldIndex("attention_mask"))
            ? ints(r.getList(r.fieldIndex("attention_mask")))
            : null;
    String source =
        has(r, "source") && !r.isNullAt(r.fieldIndex("source"))
            ? r.getString(r.fieldIndex("source"))
            : CalibrationSample.SOURCE_IDS;
    return new CalibrationSample(
        id,
        ids,
        mask,
        source,
        intOr(r, "repeat_start"),
        intOr(r, "repeat_period"),
        intOr(r, "repeat_count"),
        intOr(r, "needle_start"),
        intOr(r, "needle_end"),
        intOr(r, "answer_start"),
        intOr(r, "answer_end"));
  }

  private static boolean has(Row r, String name) {
    return Arrays.asList(r.schema().fieldNames()).contains(name);
  }

  private static int intOr(Row r, String name) {
    if (!has(r, name) || r.isNullAt(r.fieldIndex(name))) {
      return -1;
    }
    return ((Number) r.get(r.fieldIndex(name))).intValue();
  }

  private static int[] ints(List<Object> list) {
    int[] v = new int[list.size()];
    for (int i = 0; i < v.length; i++) {
      v[i] = ((Number) list.get(i)).intValue();
    }
    return v;
  }

  private static List<Integer> boxed(int[] v) {
    List<Integer> out = new ArrayList<>(v.length);
    for (int x : v) {
      out.add(x);
    }
    return out;
  }

  private static Integer opt(int v) {
    return v < 0 ? null : v;
  }
}
