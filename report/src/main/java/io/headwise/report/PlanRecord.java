package io.headwise.report;

import io.headwise.schemas.PlanMeta;
import io.headwise.schemas.PlanRow;
import java.util.List;

/** A stored KV-cache plan: its plan-level metadata and one row per planned head. */
public record PlanRecord(PlanMeta meta, List<PlanRow> rows) {
  public PlanRecord {
    rows = List.copyOf(rows);
  }

  public String planId() {
    return meta.planId();
  }

  /**
   * {@code kv_head} or {@code query_head}, from the rows ({@code kv_head} for a plan without rows).
   */
  public String granularity() {
    return rows.isEmpty() ? PlanRow.KV_HEAD : rows.get(0).granularity();
  }

  /** Heads per layer at the plan's granularity. */
  public int headsPerLayer() {
    return PlanRow.QUERY_HEAD.equals(granularity()) ? meta.numHeads() : meta.numKvHeads();
  }
}
