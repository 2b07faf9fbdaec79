package io.headwise.planners;

import io.headwise.schemas.HeadwiseException;
import io.headwise.schemas.PlanRow;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * H2O, Heavy-Hitter Oracle (Zhang et al., FMInference/H2O): every kv head keeps a fixed token
 * budget, split between heavy hitters (highest accumulated column attention s_j = Σ_i A_ij over all
 * prefill and decode queries, un-normalised, as H2O's {@code _update_hh_score}) and the most recent
 * tokens. Rows are {@code budget}, granularity {@code kv_head}; the scoring is a runtime policy, so
 * no statistics beyond the model shape are needed.
 *
 * <p>Sizing (reconstruction choice). H2O states budgets as ratios of the sequence length
 * (heavy_ratio 0.1 + recent_ratio 0.1 = 20 %). Here the budget is the requested fraction F, split
 * in the proportion heavy_ratio : recent_ratio (default 0.1 : 0.1, i.e. half and half). A {@code
 * budget} row holds one token count, so the budget is the single count with the least squared
 * fraction error over the target lengths within [F − 0.1, F + 0.02]; when none exists (lengths too
 * far apart) the least-violating count is used and {@code budget_note} says so. In the params,
 * {@code heavy_ratio} and {@code recent_ratio} are the shares of the sequence the plan gives each
 * (F split in the options' proportion, e.g. 0.25 + 0.25 at F = 0.5), and {@code
 * heavy_budget_tokens} / {@code recent_budget_tokens} the token counts the exports read. GQA: the
 * score of a kv head is the mean over its query heads (kvpress's ObservedAttentionPress
 * convention), stated in {@code gqa_scoring}.
 *
 * <p>Evaluation: the exported prefill graph simulates the policy per query (heavy hitters
 * re-selected among all earlier tokens), which lets an evicted token return; H2O's own harness
 * evicts for good, and accumulates scores over its compressed cache. A simulated number is
 * therefore not H2O's, and not a bound on it either: on the project's models it has measured both
 * better and worse than H2O's own policy (docs/results.md); {@code evaluation_note} in the params
 * says so. The decode graph ({@code export --decode}, {@code evaluate --decode}) runs H2O's own
 * policy: evicted tokens never return.
 *
 * <p>Options: {@code heavy_ratio} (default 0.1), {@code recent_ratio} (default 0.1).
 */
public final class H2oPlanner implements KvPlanner {
  public static final String METHOD = "h2o";
  public static final String HEAVY_RATIO = "heavy_ratio";
  public static final String RECENT_RATIO = "recent_ratio";

  private static final List<OptionSpec> OPTIONS =
      List.of(
          new OptionSpec(
              HEAVY_RATIO,
              "0.1",
              "heavy-hitter share of the sequence in H2O; sets the budget split"),
          new OptionSpec(
              RECENT_RATIO,
              "0.1",
              "recent-token share of the sequence in H2O; sets the budget split"));

  @Override
  public String method() {
    return METHOD;
  }

  @Override
  public List<OptionSpec> options() {
    return OPTIONS;
  }

  @Override
  public Plan plan(PlanRequest request) {
    PlanOptions options = PlanOptions.resolve(METHOD, OPTIONS, request.options());
    double heavyRatio = options.number(HEAVY_RATIO, 0.0, 1.0);
    double recentRatio = options.number(RECENT_RATIO, 0.0, 1.0);
    if (heavyRatio + recentRatio <= 0) {
      throw new HeadwiseException(
          "options heavy_ratio and recent_ratio of method h2o are both"
              + " 0; at least one must be positive to split the budget");
    }
    double f = request.kvFraction();
    SpanSizing.Result sized = SpanSizing.fixedKept(request.targetLengths(), f, 0.0, 1);
    int budget = sized.kept();
    double heavyShare = heavyRatio / (heavyRatio + recentRatio);
    int heavyTokens = (int) Math.round(budget * heavyShare);
    Map<String, Object> params = new LinkedHashMap<>();
    params.put("heavy_ratio", f * heavyShare);
    params.put("recent_ratio", f * (1 - heavyShare));
    params.put("heavy_budget_tokens", heavyTokens);
    params.put("recent_budget_tokens", budget - heavyTokens);
    params.put(
        "scoring",
        "accumulated column attention s_j = sum_i A_ij over all prefill and decode queries,"
            + " unnormalised; keep the top heavy_budget_tokens by s_j plus the last recent_budget_tokens tokens");
    params.put("gqa_scoring", "mean of s_j over the query heads of a kv group");
    params.put(
        "evaluation_note",
        "the prefill evaluation simulates this policy per query, re-selecting heavy hitters"
            + " from dense scores among all earlier tokens, so an evicted token can return; H2O's own cache"
            + " evicts for good and scores over what it kept: a simulated number is not H2O's (it has measured"
            + " both better and worse); evaluate --decode measures H2O's own eviction");
    String note =
        sized.withinTolerance()
            ? null
            : "H2O keeps a fixed token budget per head and no single budget keeps a fraction within [F-0.1, F+0.02]"
                + " at every target length "
                + request.targetLengths()
                + "; "
                + budget
                + " tokens has the least worst violation (plan the lengths separately to meet F at each)";
    HeadStatsTable stats = request.stats();
    List<HeadPolicy> heads =
        PlanAssembly.perKvHead(stats, (l, k, i) -> HeadPolicy.budget(l, k, budget));
    return PlanAssembly.assemble(request, METHOD, PlanRow.KV_HEAD, heads, params, note, List.of());
  }
}
