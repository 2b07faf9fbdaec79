package io.headwise.planners;

import io.headwise.schemas.Json;
import io.headwise.schemas.PlanMeta;
import io.headwise.schemas.PlanRow;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Turns head policies into a {@link Plan}: checks that every head is planned once, computes the
 * expected KV fraction at each target length, and enforces the budget tolerance [F − 0.1, F + 0.02]
 * unless the planner gave a reason (stored as {@code budget_note} in the params).
 */
final class PlanAssembly {
  /** Params key under which the reason for missing the budget tolerance is stored. */
  static final String BUDGET_NOTE = "budget_note";

  private PlanAssembly() {}

  /** The policy of one kv head; {@code index} is its layer-major index layer · kvHeads + kvHead. */
  interface KvHeadPolicy {
    HeadPolicy at(int layer, int kvHead, int index);
  }

  /** One policy per (layer, kv head), in layer-major order: the loop every kv-head planner runs. */
  static List<HeadPolicy> perKvHead(HeadStatsTable stats, KvHeadPolicy policy) {
    List<HeadPolicy> heads = new ArrayList<>();
    int kvHeads = stats.numKvHeads();
    for (int l = 0; l < stats.numLayers(); l++) {
      for (int k = 0; k < kvHeads; k++) {
        heads.add(policy.at(l, k, l * kvHeads + k));
      }
    }
    return heads;
  }

  static Plan assemble(
      PlanRequest request,
      String method,
      String granularity,
      List<HeadPolicy> heads,
      Map<String, Object> planParams,
      String budgetNote,
      List<PlanCandidate> candidates) {
    HeadStatsTable stats = request.stats();
    List<PlanRow> rows = rows(request, method, granularity, heads, planParams);
    Map<Integer, Double> expected = KvFraction.atLengths(rows, request.targetLengths());
    List<Integer> outside = new ArrayList<>();
    for (var e : expected.entrySet()) {
      if (!KvFraction.withinTolerance(e.getValue(), request.kvFraction())) {
        outside.add(e.getKey());
      }
    }
    Map<String, Object> params = new LinkedHashMap<>(planParams);
    params.put("kv_fraction_within_tolerance", outside.isEmpty());
    if (!outside.isEmpty()) {
      if (budgetNote == null) {
        throw new IllegalStateException(
            "planner "
                + method
                + " produced KV fractions "
                + expected
                + " outside [F-0.1, F+0.02] for F="
                + request.kvFraction()
                + " at lengths "
                + outside
                + " without saying why");
      }
      params.put(BUDGET_NOTE, budgetNote);
    } else if (budgetNote != null) {
      params.put(BUDGET_NOTE, budgetNote);
    }
    rows = rows(request, method, granularity, heads, params);
    PlanMeta meta =
        new PlanMeta(
            request.planId(),
            stats.modelId(),
            stats.statsRunId(),
            method,
            request.kvFraction(),
            request.targetLengths(),
            expected,
            stats.numLayers(),
            stats.numHeads(),
            stats.numKvHeads(),
            request.createdAtMillis());
    return new Plan(meta, rows, Json.write(params), candidates);
  }

  /** Rows in (layer, head) order, each with the plan params merged with its own head params. */
  static List<PlanRow> rows(
      PlanRequest request,
      String method,
      String granularity,
      List<HeadPolicy> heads,
      Map<String, Object> planParams) {
    HeadStatsTable stats = request.stats();
    int headsPerLayer = PlanRow.KV_HEAD.equals(granularity) ? stats.numKvHeads() : stats.numHeads();
    boolean[] seen = new boolean[stats.numLayers() * headsPerLayer];
    List<HeadPolicy> sorted = new ArrayList<>(heads);
    sorted.sort(Comparator.comparingInt(HeadPolicy::layer).thenComparingInt(HeadPolicy::head));
    List<PlanRow> rows = new ArrayList<>(sorted.size());
    for (HeadPolicy h : sorted) {
      int index = h.layer() * headsPerLayer + h.head();
      if (h.head() >= headsPerLayer || h.layer() >= stats.numLayers() || seen[index]) {
        throw new IllegalStateException(
            "planner "
                + method
                + " planned layer "
                + h.layer()
                + ", head "
                + h.head()
                + " twice or outside the model");
      }
      seen[index] = true;
      Map<String, Object> params = new LinkedHashMap<>(planParams);
      params.putAll(h.headParams());
      rows.add(
          h.toRow(
              request.planId(),
              stats.modelId(),
              stats.statsRunId(),
              method,
              granularity,
              Json.write(params)));
    }
    if (rows.size() != seen.length) {
      throw new IllegalStateException(
          "planner " + method + " planned " + rows.size() + " of " + seen.length + " heads");
    }
    return rows;
  }
}
