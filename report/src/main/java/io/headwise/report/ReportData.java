package io.headwise.report;

import io.headwise.schemas.HeadStat;
import java.time.Instant;
import java.util.List;
import java.util.Set;

/**
 * Everything the report shows, as plain records read from the warehouse: lineage, head statistics,
 * plans, evaluations and quantization plans. {@code missingTables} names the tables that do not
 * exist yet (their sections say so); {@code filters} describes the model / stats-run filters
 * applied, empty when none.
 */
public record ReportData(
    String warehouse,
    Instant generatedAt,
    String reportVersionsJson,
    String filters,
    List<RunRecord> runs,
    List<HeadStat> headStats,
    List<PlanRecord> plans,
    List<EvaluationRecord> evaluations,
    List<QuantPlanRecord> quantPlans,
    Set<String> missingTables) {
  public ReportData {
    filters = filters == null ? "" : filters;
    runs = List.copyOf(runs);
    headStats = List.copyOf(headStats);
    plans = List.copyOf(plans);
    evaluations = List.copyOf(evaluations);
    quantPlans = List.copyOf(quantPlans);
    missingTables = Set.copyOf(missingTables);
  }
}
