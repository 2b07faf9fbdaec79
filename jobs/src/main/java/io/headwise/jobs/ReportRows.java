package io.headwise.jobs;

import static io.headwise.jobs.warehouse.RowValues.dbl;
import static io.headwise.jobs.warehouse.RowValues.str;

import io.headwise.jobs.warehouse.PlanTables;
import io.headwise.report.EvaluationRecord;
import io.headwise.report.PlanRecord;
import io.headwise.report.QuantPlanRecord;
import io.headwise.report.RunRecord;
import io.headwise.schemas.HeadStat;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;

/**
 * The rows of the warehouse tables as the report module's plain records ({@link RunRecord}, {@link
 * HeadStat}, {@link PlanRecord}, {@link EvaluationRecord}, {@link QuantPlanRecord}): the one place
 * that knows both the Delta column names and the report's types, so that {@code report} itself
 * never imports Spark. A missing table (null dataset) reads as no records.
 */
final class ReportRows {
  private ReportRows() {}

  static List<RunRecord> runs(Dataset<Row> d) {
    List<RunRecord> out = new ArrayList<>();
    if (d == null) {
      return out;
    }
    for (Row r : d.collectAsList()) {
      out.add(
          new RunRecord(
              str(r, "run_id"),
              str(r, "step"),
              str(r, "model_id"),
              str(r, "model_source"),
              str(r, "status"),
              instant(r, "started_at"),
              instant(r, "finished_at"),
              str(r, "config"),
              str(r, "versions"),
              str(r, "row_counts"),
              str(r, "message")));
    }
    return out;
  }

  static List<HeadStat> headStats(Dataset<Row> d) {
    List<HeadStat> out = new ArrayList<>();
    if (d == null) {
      return out;
    }
    for (Row r : d.collectAsList()) {
      out.add(
          new HeadStat(
              str(r, "model_id"),
              str(r, "run_id"),
              r.getInt(r.fieldIndex("layer")),
              r.getInt(r.fieldIndex("head")),
              r.getInt(r.fieldIndex("kv_head")),
              r.getInt(r.fieldIndex("length_bucket")),
              r.getLong(r.fieldIndex("n_queries")),
              str(r, "stat"),
              r.getDouble(r.fieldIndex("value"))));
    }
    return out;
  }

  static List<PlanRecord> plans(Dataset<Row> d) {
    List<PlanRecord> out = new ArrayList<>();
    if (d == null) {
      return out;
    }
    Map<String, List<Row>> byPlan = new LinkedHashMap<>();
    for (Row r : d.collectAsList()) {
      byPlan
          .computeIfAbsent(
              str(r, "model_id") + "\u0000" + str(r, "plan_id"), k -> new ArrayList<>())
          .add(r);
    }
    for (List<Row> rows : byPlan.values()) {
      PlanTables.StoredPlan plan = PlanTables.fromRows(rows);
      out.add(new PlanRecord(plan.meta(), plan.rows()));
    }
    return out;
  }

  static List<EvaluationRecord> evaluations(Dataset<Row> d) {
    List<EvaluationRecord> out = new ArrayList<>();
    if (d == null) {
      return out;
    }
    for (Row r : d.collectAsList()) {
      out.add(
          new EvaluationRecord(
              str(r, "model_id"),
              str(r, "run_id"),
              str(r, "plan_id"),
              str(r, "method"),
              str(r, "mode"),
              r.getBoolean(r.fieldIndex("baseline")),
              str(r, "baseline_for"),
              dbl(r, "kv_fraction_target"),
              dbl(r, "kv_fraction"),
              r.getInt(r.fieldIndex("n_samples")),
              r.getLong(r.fieldIndex("n_positions")),
              dbl(r, "kl_mean"),
              dbl(r, "top1_agreement"),
              dbl(r, "nll_delta"),
              dbl(r, "repeat_accuracy"),
              dbl(r, "dense_repeat_accuracy"),
              dbl(r, "passkey_accuracy"),
              dbl(r, "dense_passkey_accuracy"),
              dbl(r, "cosine_mean"),
              instant(r, "created_at")));
    }
    return out;
  }

  static List<QuantPlanRecord> quantPlans(Dataset<Row> d) {
    List<QuantPlanRecord> out = new ArrayList<>();
    if (d == null) {
      return out;
    }
    for (Row r : d.collectAsList()) {
      out.add(
          new QuantPlanRecord(
              str(r, "model_id"),
              str(r, "run_id"),
              str(r, "name"),
              str(r, "method"),
              r.getInt(r.fieldIndex("bits")),
              r.getInt(r.fieldIndex("group_size")),
              r.getBoolean(r.fieldIndex("symmetric")),
              r.getBoolean(r.fieldIndex("rotated")),
              r.getInt(r.fieldIndex("in_features")),
              r.getInt(r.fieldIndex("out_features")),
              r.getDouble(r.fieldIndex("damping")),
              r.getDouble(r.fieldIndex("gptq_loss")),
              r.getDouble(r.fieldIndex("seconds")),
              str(r, "params")));
    }
    return out;
  }

  private static Instant instant(Row r, String field) {
    int i = r.fieldIndex(field);
    Object o = r.isNullAt(i) ? null : r.get(i);
    if (o instanceof Timestamp t) {
      return t.toInstant();
    }
    return o instanceof Instant t ? t : null;
  }
}
