package io.headwise.planners;

import io.headwise.schemas.PlanMeta;
import io.headwise.schemas.PlanRow;
import java.util.List;

/**
 * A KV plan: its metadata, one row per head, the plan-level method parameters as JSON (each row's
 * {@code paramsJson} holds them too, plus that head's own fields), and optional alternative
 * candidates.
 */
public record Plan(
    PlanMeta meta, List<PlanRow> rows, String paramsJson, List<PlanCandidate> candidates) {
  public Plan {
    rows = List.copyOf(rows);
    candidates = List.copyOf(candidates);
  }
}
