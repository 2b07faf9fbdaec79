package io.headwise.jobs.warehouse;

import static io.headwise.jobs.warehouse.RowValues.str;
import static org.apache.spark.sql.functions.col;

import io.headwise.schemas.HeadwiseException;
import io.headwise.schemas.PlanMeta;
import io.headwise.schemas.PlanRow;
import io.headwise.schemas.Tables;
import java.sql.Timestamp;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;

/** Reads and writes plans (rows plus plan-level metadata) in the {@code attention_plans} table. */
public final class PlanTables {
  /** A plan as stored: metadata and one row per head. */
  public record StoredPlan(PlanMeta meta, List<PlanRow> rows) {}

  private PlanTables() {}

  /** Table rows for a plan. */
  public static List<Row> toRows(PlanMeta meta, List<PlanRow> rows) {
    List<Integer> lengths = meta.targetLengths();
    List<Double> expected = new ArrayList<>();
    for (int n : lengths) {
      expected.add(meta.expectedKvFraction().getOrDefault(n, Double.NaN));
    }
    Timestamp created = new Timestamp(meta.createdAtMillis());
    List<Row> out = new ArrayList<>();
    for (PlanRow r : rows) {
      out.add(
          RowFactory.create(
              r.planId(),
              r.modelId(),
              r.statsRunId(),
              r.method(),
              r.granularity(),
              r.layer(),
              r.head(),
              r.kind(),
              r.sinkTokens(),
              r.alpha(),
              r.beta(),
              r.budgetTokens(),
              r.paramsJson(),
              new ArrayList<>(lengths),
              meta.kvFractionTarget(),
              expected,
              meta.numLayers(),
              meta.numHeads(),
              meta.numKvHeads(),
              created));
    }
    return out;
  }

  /**
   * The plan {@code planId}; {@code modelId} may be null when only one model has a plan of that id.
   * Errors name the plan and what to do.
   */
  public static StoredPlan read(Warehouse w, String planId, String modelId) {
    Dataset<Row> d =
        w.require(Tables.ATTENTION_PLANS, "headwise plan").filter(col("plan_id").equalTo(planId));
    if (modelId != null) {
      d = d.filter(col("model_id").equalTo(modelId));
    }
    List<Row> rows = d.collectAsList();
    if (rows.isEmpty() && modelId != null) {
      List<String> owners =
          w.require(Tables.ATTENTION_PLANS, "headwise plan")
              .filter(col("plan_id").equalTo(planId))
              .select("model_id")
              .distinct()
              .as(org.apache.spark.sql.Encoders.STRING())
              .collectAsList();
      if (!owners.isEmpty()) {
        throw new HeadwiseException(
            "plan '"
                + planId
                + "' belongs to model "
                + String.join(", ", owners)
                + ", not to model "
                + modelId
                + " (the --model given); a plan is never applied to another model: pass"
                + " that model's file, or make a plan from a profile of this model");
      }
    }
    if (rows.isEmpty()) {
      throw new HeadwiseException(
          "plan '"
              + planId
              + "' not found in "
              + w.path(Tables.ATTENTION_PLANS)
              + (modelId == null ? "" : " for model " + modelId)
              + "; run 'headwise plan --plan-id "
              + planId
              + "' first");
    }
    String model = rows.get(0).getString(rows.get(0).fieldIndex("model_id"));
    for (Row r : rows) {
      if (!r.getString(r.fieldIndex("model_id")).equals(model)) {
        throw new HeadwiseException(
            "plan id '" + planId + "' exists for several models; pass --model to choose");
      }
    }
    return fromRows(rows);
  }

  /**
   * One plan's rows of {@code attention_plans} (one model, one plan id) as a {@link StoredPlan}:
   * the rows sorted by (layer, head), the metadata from the first row (an expected KV fraction or a
   * creation time the row lacks reads as null or 0).
   */
  public static StoredPlan fromRows(List<Row> rows) {
    List<PlanRow> plan = new ArrayList<>();
    for (Row r : rows) {
      plan.add(
          new PlanRow(
              str(r, "plan_id"),
              str(r, "model_id"),
              str(r, "stats_run_id"),
              str(r, "method"),
              str(r, "granularity"),
              r.getInt(r.fieldIndex("layer")),
              r.getInt(r.fieldIndex("head")),
              str(r, "kind"),
              r.getInt(r.fieldIndex("sink_tokens")),
              r.getDouble(r.fieldIndex("alpha")),
              r.getDouble(r.fieldIndex("beta")),
              r.getInt(r.fieldIndex("budget_tokens")),
              str(r, "params")));
    }
    plan.sort(
        (a, b) ->
            a.layer() != b.layer()
                ? Integer.compare(a.layer(), b.layer())
                : Integer.compare(a.head(), b.head()));
    Row f = rows.get(0);
    List<Integer> lengths = f.getList(f.fieldIndex("target_lengths"));
    List<Double> expected = f.getList(f.fieldIndex("expected_kv_fraction"));
    Map<Integer, Double> exp = new LinkedHashMap<>();
    for (int i = 0; i < lengths.size(); i++) {
      exp.put(lengths.get(i), i < expected.size() ? expected.get(i) : null);
    }
    int c = f.fieldIndex("created_at");
    PlanMeta meta =
        new PlanMeta(
            str(f, "plan_id"),
            str(f, "model_id"),
            str(f, "stats_run_id"),
            str(f, "method"),
            f.getDouble(f.fieldIndex("kv_fraction_target")),
            List.copyOf(lengths),
            exp,
            f.getInt(f.fieldIndex("num_layers")),
            f.getInt(f.fieldIndex("num_heads")),
            f.getInt(f.fieldIndex("num_kv_heads")),
            f.isNullAt(c) ? 0 : f.getTimestamp(c).getTime());
    return new StoredPlan(meta, List.copyOf(plan));
  }
}
