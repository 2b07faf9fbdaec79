package io.headwise.planners;

import io.headwise.schemas.HeadwiseException;
import io.headwise.schemas.PlanRow;
import io.headwise.schemas.StatNames;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.SortedSet;
import java.util.TreeSet;

/**
 * EXPERIMENTAL — EMS, head-wise evict-then-merge KV compression (arXiv 2412.08521), as far as its
 * abstract lets it be reconstructed: every kv head gets its own token budget from how concentrated
 * its attention is (heavy-hitter share and local mass), and at run time a budget cache keeps the
 * tokens a Global-Local score ranks highest and merges the evicted ones instead of dropping them.
 * The run-time policy exists only in decode graphs ({@code export --decode}, {@code evaluate
 * --decode}, {@code bench decode}; docs/decode.md); the prefill export refuses EMS budget heads
 * (naming {@code export --decode}) and no engine format writes them. The plan records {@code
 * experimental: true}, {@code plan} warns, the report badges it and the publish gate holds EMS
 * plans back. Rows are {@code budget}, granularity {@code kv_head}.
 *
 * <p>The public description is partial (abstract only; no code found, planners.md §4). Budget
 * reconstruction:
 *
 * <ul>
 *   <li>Concentration of a query head at a target length: c = (global_weight·heavy_hitter_share_p +
 *       local_weight·local_mass(w)) / (global_weight + local_weight), read at the bucket nearest
 *       the length (local mass interpolated log-linearly at w = {@code local_window}, scaled by T/N
 *       when the bucket T is shorter than N); averaged over the target lengths. Diffuseness d = 1 −
 *       c. A kv head takes the max d of its query heads (one cache serves the group, so its most
 *       diffuse head decides).
 *   <li>Budgets: B_h = clamp(κ·(d_h^γ + 0.02), min_budget_tokens, N_max) with γ = {@code
 *       allocation_power}; κ is bisected so the mean signed fraction error over the target lengths
 *       is zero, counting the merge slot (a head holds min(N, B_h + 1) entries once it evicts).
 *       Heads with high local mass or heavy-hitter concentration get small budgets, diffuse heads
 *       large ones. A budget row keeps one token count, so lengths far apart may leave the
 *       tolerance; {@code budget_note} then says so.
 * </ul>
 *
 * <p>Run-time reconstruction (what the decode graph does; the plan params {@code scoring}, {@code
 * merge} and the rows' {@code recent_budget_tokens}, {@code merge_tokens} say the same):
 *
 * <ul>
 *   <li>Local part of the Global-Local score: the R = min({@code observation_window}, B_h) most
 *       recent tokens are always kept (written per row as {@code recent_budget_tokens}).
 *   <li>Global part: the other B_h − R kept tokens are those with the largest attention accumulated
 *       since they entered the cache (summed over the queries, mean over the query heads of the kv
 *       head), as H2O's cache does; EMS's causal normalisation of the global score and its local
 *       window score over the observation window are <b>not</b> reproduced (the paper's formulas
 *       are not public).
 *   <li>Evict-then-merge: every token the selection evicts is merged into one merge slot per kv
 *       head ({@code merge_tokens}: 1) — running sums of its keys and values and their count — and
 *       never returns as itself. A query attends to the kept tokens plus the slot as one entry with
 *       key sum_key/count, logit scaled q·key + ln(count) and value sum_value/count
 *       (RazorAttention's compensation entry, here for a budget cache). EMS's merging of evicted
 *       tokens into the nearest kept "class centre" by key similarity and its zero class (drop
 *       outright) are <b>not</b> reproduced: one slot takes every evicted token. The slot's
 *       attention is not accumulated into any score.
 * </ul>
 *
 * <p>Options: {@code global_weight} (0.5), {@code local_weight} (0.5), {@code local_window} (64),
 * {@code heavy_percent} (auto: 10 if profiled, else the nearest profiled), {@code
 * observation_window} (32; the recent tokens every head always keeps, and the default floor {@code
 * min_budget_tokens}), {@code min_budget_tokens} (auto: observation_window + 4, at most half of
 * F·N_min), {@code allocation_power} (1). Needs {@code heavy_hitter_share_{p}} (when global_weight
 * &gt; 0) and {@code local_mass_{w}} (when local_weight &gt; 0).
 */
public final class EmsPlanner implements KvPlanner {
  public static final String METHOD = "ems";
  public static final String GLOBAL_WEIGHT = "global_weight";
  public static final String LOCAL_WEIGHT = "local_weight";
  public static final String LOCAL_WINDOW = "local_window";
  public static final String HEAVY_PERCENT = "heavy_percent";
  public static final String OBSERVATION_WINDOW = "observation_window";
  public static final String MIN_BUDGET_TOKENS = "min_budget_tokens";
  public static final String ALLOCATION_POWER = "allocation_power";

  /** Row params key: recent tokens always kept (the exports read it). */
  public static final String RECENT_BUDGET_TOKENS = "recent_budget_tokens";

  /** Plan params key: merge slots per kv head (1; the exports and the KV fraction read it). */
  public static final String MERGE_TOKENS = "merge_tokens";

  static final int DEFAULT_HEAVY_PERCENT = 10;
  static final double DIFFUSENESS_FLOOR = 0.02;

  private static final List<OptionSpec> OPTIONS =
      List.of(
          new OptionSpec(
              GLOBAL_WEIGHT,
              "0.5",
              "weight of heavy-hitter concentration in a head's concentration"),
          new OptionSpec(LOCAL_WEIGHT, "0.5", "weight of local mass in a head's concentration"),
          new OptionSpec(LOCAL_WINDOW, "64", "window w at which local_mass_{w} is read"),
          new OptionSpec(
              HEAVY_PERCENT,
              PlanOptions.AUTO,
              "p of heavy_hitter_share_{p}; auto: 10 if profiled, else the nearest profiled"),
          new OptionSpec(
              OBSERVATION_WINDOW,
              "32",
              "recent tokens every head's cache always keeps (the local part of the score); sets the"
                  + " default min_budget_tokens"),
          new OptionSpec(
              MIN_BUDGET_TOKENS,
              PlanOptions.AUTO,
              "smallest per-head budget; auto: observation_window + 4, at most half of F*N at the shortest length"),
          new OptionSpec(
              ALLOCATION_POWER, "1", "exponent γ on diffuseness in the budget allocation"));

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
    double globalWeight = options.number(GLOBAL_WEIGHT, 0.0, 1e9);
    double localWeight = options.number(LOCAL_WEIGHT, 0.0, 1e9);
    if (globalWeight + localWeight <= 0) {
      throw new HeadwiseException(
          "options global_weight and local_weight of method ems are both 0; at least one"
              + " must be positive");
    }
    int localWindow = options.integer(LOCAL_WINDOW, 1);
    int observationWindow = options.integer(OBSERVATION_WINDOW, 0);
    double power = options.number(ALLOCATION_POWER, 0.0, 10.0);
    HeadStatsTable stats = request.stats();
    double f = request.kvFraction();
    List<Integer> lengths = request.targetLengths();

    int heavyPercent = -1;
    if (globalWeight > 0) {
      SortedSet<Integer> percents = new TreeSet<>();
      for (String s : stats.statNames()) {
        OptionalInt p = StatNames.heavyHitterPercent(s);
        if (p.isPresent() && stats.has(s)) {
          percents.add(p.getAsInt());
        }
      }
      if (options.isAuto(HEAVY_PERCENT)) {
        if (percents.isEmpty()) {
          stats.require(
              METHOD,
              StatNames.heavyHitterShare(DEFAULT_HEAVY_PERCENT),
              "the profile step (heavy-hitter percentages grid); or set global_weight=0");
        }
        heavyPercent =
            percents.contains(DEFAULT_HEAVY_PERCENT)
                ? DEFAULT_HEAVY_PERCENT
                : percents.stream()
                    .min(
                        (a, b) ->
                            Integer.compare(
                                Math.abs(a - DEFAULT_HEAVY_PERCENT),
                                Math.abs(b - DEFAULT_HEAVY_PERCENT)))
                    .orElseThrow();
      } else {
        heavyPercent = options.integer(HEAVY_PERCENT, 1);
        stats.require(
            METHOD,
            StatNames.heavyHitterShare(heavyPercent),
            "the profile step with "
                + heavyPercent
                + " in its heavy-hitter percentages grid (profiled: "
                + percents
                + ")");
      }
    }
    if (localWeight > 0 && stats.buckets(WindowedStat.LOCAL_MASS, 0).isEmpty()) {
      stats.require(
          METHOD,
          StatNames.localMass(localWindow),
          "the profile step (local windows grid); or set local_weight=0");
    }

    int kvHeads = stats.numKvHeads();
    int total = stats.numLayers() * kvHeads;
    double[] diffuseness = new double[total];
    for (int length : lengths) {
      WindowCurve local = null;
      int heavyBucket = -1;
      double window = localWindow;
      if (localWeight > 0) {
        int bucket =
            HeadStatsTable.nearestBucket(stats.buckets(WindowedStat.LOCAL_MASS, 0), length);
        local = stats.curve(WindowedStat.LOCAL_MASS, 0, bucket);
        window = localWindow * Math.min(1.0, (double) bucket / length);
      }
      if (globalWeight > 0) {
        heavyBucket =
            HeadStatsTable.nearestBucket(
                stats.buckets(StatNames.heavyHitterShare(heavyPercent)), length);
      }
      // each head's diffuseness is clamped to [0, 1], so the group's largest is at least 0
      WindowCurve localCurve = local;
      int heavy = heavyBucket;
      double w = window;
      int percent = heavyPercent;
      double[] groupMax =
          stats.kvGroupMax(
              (l, h) -> {
                double concentration = 0;
                if (globalWeight > 0) {
                  concentration +=
                      globalWeight * stats.value(l, h, heavy, StatNames.heavyHitterShare(percent));
                }
                if (localWeight > 0) {
                  concentration += localWeight * localCurve.at(l, h, w);
                }
                concentration /= globalWeight + localWeight;
                return Math.min(1.0, Math.max(0.0, 1.0 - concentration));
              });
      for (int i = 0; i < total; i++) {
        diffuseness[i] += groupMax[i] / lengths.size();
      }
    }

    int minBudget =
        options.isAuto(MIN_BUDGET_TOKENS)
            ? (int)
                Math.max(
                    1, Math.min(observationWindow + 4, Math.floor(f * request.minLength() / 2)))
            : options.integer(MIN_BUDGET_TOKENS, 1);
    double[] weight = new double[total];
    for (int i = 0; i < total; i++) {
      weight[i] = Math.pow(diffuseness[i], power) + DIFFUSENESS_FLOOR;
    }
    int[] budgets = allocate(weight, minBudget, lengths, f);

    Map<String, Object> params = new LinkedHashMap<>();
    params.put("experimental", true);
    params.put(
        "status",
        "experimental reconstruction from the paper's abstract: per-head budgets, and at run time"
            + " recent + accumulated-attention selection with one merge slot per kv head;"
            + " implemented in decode graphs only (export --decode, evaluate --decode), the prefill"
            + " export refuses EMS");
    params.put("global_weight", globalWeight);
    params.put("local_weight", localWeight);
    params.put("heavy_percent", heavyPercent > 0 ? heavyPercent : null);
    params.put("local_window", localWindow);
    params.put("observation_window", observationWindow);
    params.put("min_budget_tokens", minBudget);
    params.put("allocation_power", power);
    params.put(
        "allocation",
        "budget = clamp(kappa*(diffuseness^allocation_power + 0.02), min_budget_tokens,"
            + " max length); diffuseness = 1 - (global_weight*heavy_hitter_share + local_weight*local_mass)/(sum of"
            + " weights), max over the query heads of a kv group");
    params.put(
        "scoring",
        "keep the recent_budget_tokens = min(observation_window, budget) most recent tokens and"
            + " the rest by attention accumulated since a token entered the cache (summed over"
            + " queries, mean over the query heads of a kv head); EMS's causal normalisation and"
            + " window score are not reproduced");
    params.put(MERGE_TOKENS, 1);
    params.put(
        "merge",
        "every evicted token joins one merge slot per kv head (sums of keys and values, count);"
            + " queries attend to it as one entry: key sum_key/count, logit + ln(count), value"
            + " sum_value/count; no similarity-based merging into kept tokens, no zero class");
    params.put(
        "reconstruction",
        "EMS publishes no code; budgets and run-time policy are reconstructed from the paper's"
            + " abstract (see EmsPlanner javadoc)");
    List<HeadPolicy> heads =
        PlanAssembly.perKvHead(
            stats,
            (l, k, i) ->
                HeadPolicy.budget(l, k, budgets[i])
                    .with(RECENT_BUDGET_TOKENS, Math.min(observationWindow, budgets[i]))
                    .with("diffuseness", diffuseness[i]));
    String note = null;
    for (int n : lengths) {
      double fraction = 0;
      for (int b : budgets) {
        fraction += entries(b, n) / n / total;
      }
      if (!KvFraction.withinTolerance(fraction, f)) {
        note =
            "EMS keeps a fixed token budget per head, and no budget scale keeps a fraction within"
                + " [F-0.1, F+0.02] at every target length "
                + lengths
                + " (or min_budget_tokens is too large); the"
                + " scale balances the signed error over the lengths";
        break;
      }
    }
    return PlanAssembly.assemble(request, METHOD, PlanRow.KV_HEAD, heads, params, note, List.of());
  }

  /** Cache entries of a head with budget b at length n: the kept tokens plus the merge slot. */
  static double entries(int b, int n) {
    return b < n ? Math.min(n, b + 1) : n;
  }

  /**
   * Budgets clamp(κ·w, min, N_max) with κ bisected so the mean signed fraction error over the
   * lengths is 0.
   */
  static int[] allocate(double[] weight, int minBudget, List<Integer> lengths, double f) {
    int maxLength = lengths.stream().mapToInt(Integer::intValue).max().orElseThrow();
    double lo = 0;
    double hi = 1;
    while (signedError(weight, hi, minBudget, maxLength, lengths, f) < 0 && hi < 1e15) {
      lo = hi;
      hi *= 2;
    }
    for (int i = 0; i < 100; i++) {
      double mid = 0.5 * (lo + hi);
      if (signedError(weight, mid, minBudget, maxLength, lengths, f) < 0) {
        lo = mid;
      } else {
        hi = mid;
      }
    }
    double errLo = Math.abs(signedError(weight, lo, minBudget, maxLength, lengths, f));
    double errHi = Math.abs(signedError(weight, hi, minBudget, maxLength, lengths, f));
    return budgets(weight, errLo <= errHi ? lo : hi, minBudget, maxLength);
  }

  private static int[] budgets(double[] weight, double kappa, int minBudget, int maxLength) {
    int[] out = new int[weight.length];
    for (int i = 0; i < weight.length; i++) {
      out[i] = (int) Math.max(minBudget, Math.min(maxLength, Math.round(kappa * weight[i])));
    }
    return out;
  }

  private static double signedError(
      double[] weight,
      double kappa,
      int minBudget,
      int maxLength,
      List<Integer> lengths,
      double f) {
    int[] b = budgets(weight, kappa, minBudget, maxLength);
    double error = 0;
    for (int n : lengths) {
      double fraction = 0;
      for (int x : b) {
        fraction += entries(x, n) / n;
      }
      error += fraction / b.length - f;
    }
    return error / lengths.size();
  }
}
