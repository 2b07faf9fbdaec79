package io.headwise.planners;

import io.headwise.schemas.Json;
import io.headwise.schemas.PlanRow;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The KV fraction of a plan at sequence length N: the mean over its rows (heads) of
 * keptTokens(N)/N, and the budget tolerance every planner is held to.
 */
public final class KvFraction {
  /** A plan may keep at most this much less than its target fraction F. */
  public static final double BELOW_TARGET_TOLERANCE = 0.1;

  /** A plan may keep at most this much more than its target fraction F. */
  public static final double ABOVE_TARGET_TOLERANCE = 0.02;

  private static final String COMPENSATION_KEY = "\"compensation_tokens\"";

  private static final String MERGE_KEY = "\"merge_tokens\"";

  private KvFraction() {}

  /**
   * Mean over rows of keptTokens(n)/n; rows are kv heads or query heads as the plan's granularity
   * says.
   */
  public static double at(List<PlanRow> rows, int n) {
    if (rows.isEmpty()) {
      throw new IllegalArgumentException("a plan without rows has no KV fraction");
    }
    double sum = 0;
    for (PlanRow r : rows) {
      sum += kept(r, n) / n;
    }
    return sum / rows.size();
  }

  /**
   * Cache entries of one row at length n: keptTokens(n), plus a compensation entry (RazorAttention,
   * {@code compensation_tokens} in the params of a streaming/elastic row) or a merge slot (EMS,
   * {@code merge_tokens} in the params of a budget row) while the head drops tokens.
   */
  public static double kept(PlanRow r, int n) {
    double kept = r.keptTokens(n);
    if (kept < n
        && (PlanRow.STREAMING.equals(r.kind()) || PlanRow.ELASTIC.equals(r.kind()))
        && r.paramsJson() != null
        && r.paramsJson().contains(COMPENSATION_KEY)) {
      Object entries = Json.readMap(r.paramsJson()).get("compensation_tokens");
      if (entries instanceof Number e) {
        kept = Math.min(n, kept + e.doubleValue());
      }
    } else if (kept < n
        && PlanRow.BUDGET.equals(r.kind())
        && r.paramsJson() != null
        && r.paramsJson().contains(MERGE_KEY)) {
      Object entries = Json.readMap(r.paramsJson()).get("merge_tokens");
      if (entries instanceof Number e) {
        kept = Math.min(n, kept + e.doubleValue());
      }
    }
    return kept;
  }

  /** {@link #at} at each length, in ascending length order. */
  public static Map<Integer, Double> atLengths(List<PlanRow> rows, List<Integer> lengths) {
    Map<Integer, Double> out = new TreeMap<>();
    for (int n : lengths) {
      out.put(n, at(rows, n));
    }
    return out;
  }

  /**
   * The fraction an engine that stores one cache per kv head keeps: query-head rows are aggregated
   * with max over the g = numHeads/numKvHeads query heads of each group; kv-head rows are used as
   * they are.
   */
  public static double perKvHead(List<PlanRow> rows, int numHeads, int numKvHeads, int n) {
    if (rows.isEmpty() || !PlanRow.QUERY_HEAD.equals(rows.get(0).granularity())) {
      return at(rows, n);
    }
    int g = numHeads / numKvHeads;
    Map<Long, Double> maxByGroup = new TreeMap<>();
    for (PlanRow r : rows) {
      long key = (long) r.layer() * numKvHeads + r.head() / g;
      maxByGroup.merge(key, kept(r, n) / n, Math::max);
    }
    return maxByGroup.values().stream().mapToDouble(Double::doubleValue).average().orElseThrow();
  }

  /** True when {@code fraction} lies in [F − 0.1, F + 0.02] (with a 1e-9 rounding allowance). */
  public static boolean withinTolerance(double fraction, double target) {
    return fraction >= target - BELOW_TARGET_TOLERANCE - 1e-9
        && fraction <= target + ABOVE_TARGET_TOLERANCE + 1e-9;
  }
}
