package io.headwise.planners;

import io.headwise.schemas.PlanRow;
import java.util.LinkedHashMap;
import java.util.Map;

/** The policy a planner chose for one head, before it is stamped into a {@link PlanRow}. */
record HeadPolicy(
    int layer,
    int head,
    String kind,
    int sinkTokens,
    double alpha,
    double beta,
    int budgetTokens,
    Map<String, Object> headParams) {

  static HeadPolicy full(int layer, int head) {
    return new HeadPolicy(layer, head, PlanRow.FULL, 0, 0.0, 1.0, 0, new LinkedHashMap<>());
  }

  static HeadPolicy span(
      int layer, int head, String kind, int sinkTokens, double alpha, double beta) {
    return new HeadPolicy(layer, head, kind, sinkTokens, alpha, beta, 0, new LinkedHashMap<>());
  }

  static HeadPolicy budget(int layer, int head, int budgetTokens) {
    return new HeadPolicy(
        layer, head, PlanRow.BUDGET, 0, 0.0, 0.0, budgetTokens, new LinkedHashMap<>());
  }

  /**
   * Adds a per-head parameter (a score, a rank) that goes into this row's params JSON; returns
   * this.
   */
  HeadPolicy with(String key, Object value) {
    headParams.put(key, value);
    return this;
  }

  PlanRow toRow(
      String planId,
      String modelId,
      String statsRunId,
      String method,
      String granularity,
      String paramsJson) {
    return new PlanRow(
        planId,
        modelId,
        statsRunId,
        method,
        granularity,
        layer,
        head,
        kind,
        sinkTokens,
        alpha,
        beta,
        budgetTokens,
        paramsJson);
  }
}
