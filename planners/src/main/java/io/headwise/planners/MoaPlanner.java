package io.headwise.planners;

import io.headwise.planners.HeadStatsTable.WindowedStat;
import io.headwise.planners.moa.MoaProblem;
import io.headwise.planners.moa.MoaRule;
import io.headwise.planners.moa.MoaRuleGrid;
import io.headwise.planners.moa.MoaSolution;
import io.headwise.planners.moa.MoaSolver;
import io.headwise.schemas.HeadwiseException;
import io.headwise.schemas.PlanRow;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SortedSet;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * MoA, Mixture of Sparse Attention (Fu et al., thu-nics/MoA): every query head gets an elastic rule
 * — it keeps span α + β·N tokens at length N, the first S of them attention sinks — chosen jointly
 * for all heads to minimise the estimated loss under a KV-density budget at every target length,
 * with at most 2 distinct rules per layer.
 *
 * <p>Reconstruction choices:
 *
 * <ul>
 *   <li>Rules: MoA's grid ({@link MoaRuleGrid}) with N_min / N_max the shortest / longest target
 *       length and N_prof ({@code profile_length}, default: the longest profiled bucket, clamped to
 *       [N_min, N_max]). The α step ({@code alpha_step}) defaults to N_max/16, which is MoA's 1024
 *       at its N_max of 16384 and scales the grid to other lengths; β from {@code betas} (MoA's
 *       nine values by default).
 *   <li>Cost: instead of MoA's gradient-weighted attention influence, the inference-only "exact
 *       deviation per rule" of planners.md: cost(h, r, N) = s_l · {@code
 *       stream_deviation_s{S}_w{w}} interpolated (log-linear in w) at the rule's band w = kept(N) −
 *       S, kept(N) = min(N, S + max(0, α − S + β·N)); 0 when the rule keeps everything. When the
 *       stats have {@code output_kl_s{S}_w{w}} ({@code profile --sensitivity}: the model's
 *       next-token KL when one kv-head group is switched to the rule's tokens), that measured cost
 *       is used instead, split evenly over the group's query heads. When the stats have neither at
 *       sink count S, cost = 1 − coverage_s{S}_w{w} (MoA's cheapest option, the dropped mass).
 *       Evidence across length buckets ({@link BucketEvidence}, option {@code bucket_evidence}):
 *       the cost is the largest over every profiled bucket T, read at the window scaled by T/N when
 *       T &lt; N (the rule keeps the same share of the context) and as measured when T ≥ N, so a
 *       head that some bucket shows to depend on distance d is costed for any window shorter than
 *       d; each row's params name the bucket that decided its cost, and a target length beyond
 *       every bucket gives a warning. s_l is {@code layer_scales} (default 1 for every layer): the
 *       per-layer gradient-norm factor MoA's cost carries and the statistics cannot. The statistics
 *       measure one fixed band at every query position, while the exported graph and the decode
 *       cache give the query at position n the rule's band at length n, α − S + β·n; so a rule with
 *       β &gt; 0 costs the mean of the statistic read at each position's own band over the
 *       positions n ≤ N where it drops tokens ({@link #positionCost}). Costed by its band at N
 *       alone, rules of equal size at N tied and the solver picked, e.g., α = −350, β = 1 (only the
 *       sinks before position 350) as readily as α = 50, β = 0.
 *   <li>Optimisation: minimise Σ_N Σ_h cost subject to lower_bound_ratio·F ≤ density(N) ≤ F at
 *       every target length (density = mean over the planned units — kv heads or query heads, see
 *       granularity — of kept(N)/N, MoA's NaiveKVHardware budget) and at most {@code
 *       max_rules_per_layer} distinct rules per layer, solved with CP-SAT ({@link MoaSolver});
 *       status, objective, best bound and relative gap go into the params.
 *   <li>Granularity ({@code granularity}): on grouped-query models the cache is per kv head, so by
 *       default ({@code kv_head}) every kv-head group shares one rule, its cost is the sum of its
 *       query heads' costs and the density is per kv-head cache — the fraction reported is the
 *       fraction an engine storing one cache per kv head keeps. {@code query_head} is MoA's own
 *       convention (its engine converts GQA models to MHA and stores g caches per kv head): one
 *       rule per query head, density per query-head cache. Both accountings are in the params
 *       ({@code kv_fraction_per_kv_head}, {@code kv_fraction_per_query_head}, {@code
 *       engine_convention}). Rows are {@code elastic} with sinkTokens = S, alpha = α − S, beta = β,
 *       so the row keeps exactly MoA's span; the MoA export writes α = sinkTokens + alpha per query
 *       head.
 *   <li>Pareto candidates (MoA's ε-constraint method): minimise each length's cost alone to get its
 *       range, then for each primary length and each combination of {@code pareto_bins} equal bins
 *       of the other lengths' ranges, minimise the primary cost with the others capped at their
 *       bin's upper edge; the non-dominated solutions (with the main plan) are returned as
 *       candidates. Skipped for one target length or {@code pareto_bins=0}.
 * </ul>
 *
 * <p>Engine conventions an export assumes: the HeadwiseAttention export and decode graphs apply a
 * {@code kv_head} plan as one cache per kv head (the budget the plan reports); {@code export-format
 * --format moa} writes one rule per query head for MoA's engine, which runs GQA models converted to
 * MHA and sizes caches its own way (at least 128 slots, multiples of 64, 64 sinks; {@code
 * headwise_moa_export.json} gives the resulting fraction and the export warns where it differs from
 * the plan).
 *
 * <p>Needs {@code output_kl_s{S}_w{w}}, {@code stream_deviation_s{S}_w{w}} or {@code
 * coverage_s{S}_w{w}} (in that order of preference) for every head at one bucket at least.
 */
public final class MoaPlanner implements KvPlanner {
  public static final String METHOD = "moa";
  public static final String SINK_TOKENS = "sink_tokens";
  public static final String ALPHA_STEP = "alpha_step";
  public static final String BETAS = "betas";
  public static final String PROFILE_LENGTH = "profile_length";
  public static final String LOWER_BOUND_RATIO = "lower_bound_ratio";
  public static final String MAX_RULES_PER_LAYER = "max_rules_per_layer";
  public static final String LAYER_SCALES = "layer_scales";
  public static final String TIME_LIMIT_SECONDS = "time_limit_seconds";
  public static final String RELATIVE_GAP = "relative_gap";
  public static final String WORKERS = "workers";
  public static final String SEED = "seed";
  public static final String PARETO_BINS = "pareto_bins";
  public static final String PARETO_TIME_LIMIT_SECONDS = "pareto_time_limit_seconds";
  public static final String GRANULARITY = "granularity";
  public static final String BUCKET_EVIDENCE = "bucket_evidence";

  static final String NO_LAYER_SCALES = "none";
  static final int DEFAULT_SINK_TOKENS = 4;

  private static final List<OptionSpec> OPTIONS =
      List.of(
          new OptionSpec(
              SINK_TOKENS,
              PlanOptions.AUTO,
              "sink count S of the stream_deviation/coverage statistics and of the rows; auto: 4 if profiled, else the"
                  + " smallest profiled"),
          new OptionSpec(
              ALPHA_STEP,
              PlanOptions.AUTO,
              "α grid step in tokens; auto: longest target length / 16"),
          new OptionSpec(
              BETAS,
              "0,0.125,0.25,0.375,0.5,0.625,0.75,0.875,1",
              "β values, comma-separated, in [0, 1]"),
          new OptionSpec(
              PROFILE_LENGTH,
              PlanOptions.AUTO,
              "N_prof of MoA's rule filter; auto: longest profiled bucket clamped to the target lengths"),
          new OptionSpec(
              LOWER_BOUND_RATIO,
              "0.9",
              "density must be at least this share of F at every target length"),
          new OptionSpec(MAX_RULES_PER_LAYER, "2", "distinct rules a layer may use"),
          new OptionSpec(
              LAYER_SCALES,
              NO_LAYER_SCALES,
              "per-layer cost scales, one positive number per layer, comma-separated; none = all 1"),
          new OptionSpec(TIME_LIMIT_SECONDS, "60", "CP-SAT wall-time limit of the main solve"),
          new OptionSpec(
              RELATIVE_GAP,
              "0.005",
              "stop when (objective − proven bound)/objective is at most this (bound: max of CP-SAT and Lagrangian)"),
          new OptionSpec(
              WORKERS,
              PlanOptions.AUTO,
              "CP-SAT worker threads; auto: available processors, at most 8"),
          new OptionSpec(SEED, "0", "CP-SAT random seed"),
          new OptionSpec(
              PARETO_BINS,
              "2",
              "bins per secondary length in the ε-constraint Pareto search; 0 = off"),
          new OptionSpec(
              PARETO_TIME_LIMIT_SECONDS, "5", "CP-SAT wall-time limit of each Pareto solve"),
          new OptionSpec(
              GRANULARITY,
              PlanOptions.AUTO,
              "kv_head: one rule per kv-head group, density per kv-head cache (what an engine keeping one cache per kv"
                  + " head stores); query_head: one rule per query head, density per query-head cache (MoA's own"
                  + " GQA-to-MHA convention, g x the kv-head cache); auto: kv_head on grouped-query models, else"
                  + " query_head"),
          new OptionSpec(
              BUCKET_EVIDENCE,
              BucketEvidence.MAX,
              "max: a rule's cost is the largest over every profiled length bucket (shorter buckets at the window"
                  + " scaled by bucket/N); nearest: the bucket nearest the target length only"));

  /** The MoA problem built from a request, with everything needed to turn a solution into rows. */
  public record Prepared(
      MoaProblem problem,
      List<MoaRule> rules,
      int sinkTokens,
      String costStatistic,
      Map<Integer, Integer> bucketByLength,
      int minLength,
      int profileLength,
      int maxLength,
      double alphaStep,
      List<Double> betas,
      double[] layerScales,
      String granularity,
      int unitsPerLayer,
      int[][][] evidenceBucket,
      List<Integer> bucketsRead,
      List<String> warnings) {}

  @Override
  public String method() {
    return METHOD;
  }

  @Override
  public List<OptionSpec> options() {
    return OPTIONS;
  }

  /**
   * Builds the rule grid and the (head, rule, length) cost table; public for the solver benchmark.
   */
  public static Prepared prepare(PlanRequest request) {
    PlanOptions options = PlanOptions.resolve(METHOD, OPTIONS, request.options());
    HeadStatsTable stats = request.stats();
    SortedSet<Integer> klSinks = stats.sinkCounts(WindowedStat.OUTPUT_KL);
    SortedSet<Integer> devSinks = new TreeSet<>(stats.sinkCounts(WindowedStat.STREAM_DEVIATION));
    devSinks.addAll(klSinks);
    SortedSet<Integer> covSinks = stats.sinkCounts(WindowedStat.COVERAGE);
    if (devSinks.isEmpty() && covSinks.isEmpty()) {
      throw new HeadwiseException(
          "method moa needs statistic 'stream_deviation_s{S}_w{w}' (or, as a fallback,"
              + " 'coverage_s{S}_w{w}') for every head, but the head stats of model "
              + stats.modelId()
              + " have neither; they are produced by the profile step for each sink count S and window w of its grids");
    }
    int sink;
    if (options.isAuto(SINK_TOKENS)) {
      sink =
          devSinks.contains(DEFAULT_SINK_TOKENS)
                  || devSinks.isEmpty() && covSinks.contains(DEFAULT_SINK_TOKENS)
              ? DEFAULT_SINK_TOKENS
              : !devSinks.isEmpty() ? devSinks.first() : covSinks.first();
    } else {
      sink = options.integer(SINK_TOKENS, 0);
      if (!devSinks.contains(sink) && !covSinks.contains(sink)) {
        throw new HeadwiseException(
            "option sink_tokens="
                + sink
                + " of method moa has no statistics: the head stats"
                + " have stream_deviation for sink counts "
                + devSinks
                + " and coverage for "
                + covSinks
                + "; pick one of them or profile with S="
                + sink);
      }
    }
    // measured output sensitivity (profile --sensitivity) when present, else the head-output
    // deviation, else the
    // dropped attention mass
    WindowedStat family =
        klSinks.contains(sink)
            ? WindowedStat.OUTPUT_KL
            : devSinks.contains(sink) ? WindowedStat.STREAM_DEVIATION : WindowedStat.COVERAGE;
    String costStatistic =
        family == WindowedStat.OUTPUT_KL
            ? "output_kl_s" + sink + " (measured, per kv group, split evenly over its query heads)"
            : family == WindowedStat.STREAM_DEVIATION
                ? "stream_deviation_s" + sink
                : "1 - coverage_s" + sink + " (no stream_deviation_s" + sink + " profiled)";
    SortedSet<Integer> buckets = stats.buckets(family, sink);

    int minLength = request.minLength();
    int maxLength = request.maxLength();
    int profileLength =
        options.isAuto(PROFILE_LENGTH)
            ? Math.max(minLength, Math.min(maxLength, buckets.last()))
            : options.integer(PROFILE_LENGTH, 1);
    double alphaStep =
        options.isAuto(ALPHA_STEP) ? Math.max(1.0, maxLength / 16.0) : options.number(ALPHA_STEP);
    if (alphaStep <= 0) {
      throw new HeadwiseException(
          "option alpha_step of method moa must be positive, got " + alphaStep);
    }
    List<Double> betas = options.numbers(BETAS);
    for (double b : betas) {
      if (b < 0 || b > 1) {
        throw new HeadwiseException(
            "option betas of method moa has " + b + "; every β must lie in [0, 1]");
      }
    }
    double lowerRatio = options.number(LOWER_BOUND_RATIO, 0.0, 1.0);
    int maxRules = options.integer(MAX_RULES_PER_LAYER, 1);
    double[] layerScales = new double[stats.numLayers()];
    Arrays.fill(layerScales, 1.0);
    if (!options.string(LAYER_SCALES).equalsIgnoreCase(NO_LAYER_SCALES)) {
      List<Double> scales = options.numbers(LAYER_SCALES);
      if (scales.size() != stats.numLayers() || scales.stream().anyMatch(s -> s <= 0)) {
        throw new HeadwiseException(
            "option layer_scales of method moa needs "
                + stats.numLayers()
                + " positive numbers (one per layer), got "
                + scales.size()
                + ": "
                + options.string(LAYER_SCALES));
      }
      for (int l = 0; l < layerScales.length; l++) {
        layerScales[l] = scales.get(l);
      }
    }

    String granularity = granularity(options, stats);
    boolean perKvHead = PlanRow.KV_HEAD.equals(granularity);
    int unitsPerLayer = perKvHead ? stats.numKvHeads() : stats.numHeads();
    int g = stats.groupSize();

    List<MoaRule> rules = MoaRuleGrid.build(minLength, profileLength, maxLength, alphaStep, betas);
    if (rules.isEmpty()) {
      throw new HeadwiseException(
          "MoA's rule filter leaves no rule for lengths "
              + request.targetLengths()
              + " with alpha_step "
              + alphaStep
              + " and betas "
              + betas
              + "; use a smaller alpha_step");
    }
    List<Integer> lengths = request.targetLengths();
    int units = stats.numLayers() * unitsPerLayer;
    double[][] kept = new double[rules.size()][lengths.size()];
    for (int r = 0; r < rules.size(); r++) {
      for (int n = 0; n < lengths.size(); n++) {
        kept[r][n] = keptTokens(rules.get(r), sink, lengths.get(n));
      }
    }
    String evidenceMode =
        options.choice(BUCKET_EVIDENCE, BucketEvidence.MAX, BucketEvidence.NEAREST);
    Map<Integer, Integer> bucketByLength = new TreeMap<>();
    double[][][] cost = new double[units][rules.size()][lengths.size()];
    int[][][] evidenceBucket = new int[units][rules.size()][lengths.size()];
    double[][][] largestPart = new double[units][rules.size()][lengths.size()];
    Set<Integer> bucketsRead = new TreeSet<>();
    List<String> warnings = new ArrayList<>();
    for (int n = 0; n < lengths.size(); n++) {
      int length = lengths.get(n);
      bucketByLength.put(length, HeadStatsTable.nearestBucket(buckets, length));
      BucketEvidence evidence = new BucketEvidence(stats, family, sink, length, evidenceMode);
      bucketsRead.addAll(evidence.buckets());
      String missing = evidence.missingWarning(costStatistic);
      if (missing != null) {
        warnings.add(missing);
      }
      for (int l = 0; l < stats.numLayers(); l++) {
        for (int h = 0; h < stats.numHeads(); h++) {
          // a kv-head unit costs the sum of its query heads' costs: the group shares the rule, so
          // switching it
          // drops the same tokens for all of them
          int u = perKvHead ? l * unitsPerLayer + h / g : l * unitsPerLayer + h;
          for (int r = 0; r < rules.size(); r++) {
            double k = kept[r][n];
            if (k >= length) {
              continue;
            }
            BucketEvidence.Evidence e = evidence.at(l, h, k - sink);
            double c =
                layerScales[l]
                    * positionCost(evidence, l, h, rules.get(r), sink, length)
                    / (family == WindowedStat.OUTPUT_KL ? stats.groupSize() : 1);
            cost[u][r][n] += c;
            if (c >= largestPart[u][r][n]) {
              largestPart[u][r][n] = c;
              evidenceBucket[u][r][n] = e.bucket();
            }
          }
        }
      }
    }
    double f = request.kvFraction();
    double[] lower = new double[lengths.size()];
    double[] upper = new double[lengths.size()];
    for (int n = 0; n < lengths.size(); n++) {
      int length = lengths.get(n);
      upper[n] = f * length * units;
      lower[n] = lowerRatio * f * length * units;
      double minKept = Double.POSITIVE_INFINITY;
      double maxKept = 0;
      for (double[] k : kept) {
        minKept = Math.min(minKept, k[n]);
        maxKept = Math.max(maxKept, k[n]);
      }
      if (minKept > f * length + 1e-9) {
        throw new HeadwiseException(
            "no MoA rule keeps as little as F="
                + f
                + " at length "
                + length
                + ": the smallest keeps "
                + minKept
                + " tokens; raise the KV fraction or add smaller rules"
                + " (smaller betas or alpha_step)");
      }
      if (maxKept < lowerRatio * f * length - 1e-9) {
        throw new HeadwiseException(
            "no MoA rule keeps as much as "
                + lowerRatio
                + "·F at length "
                + length
                + ": the largest keeps "
                + maxKept
                + " tokens; lower lower_bound_ratio or profile_length");
      }
    }
    int[] layerOfUnit = new int[units];
    for (int u = 0; u < units; u++) {
      layerOfUnit[u] = u / unitsPerLayer;
    }
    int[] lengthArray = lengths.stream().mapToInt(Integer::intValue).toArray();
    MoaProblem problem =
        new MoaProblem(
            stats.numLayers(), layerOfUnit, lengthArray, kept, cost, lower, upper, maxRules);
    return new Prepared(
        problem,
        rules,
        sink,
        costStatistic,
        bucketByLength,
        minLength,
        profileLength,
        maxLength,
        alphaStep,
        betas,
        layerScales,
        granularity,
        unitsPerLayer,
        evidenceBucket,
        List.copyOf(bucketsRead),
        List.copyOf(warnings));
  }

  private static String granularity(PlanOptions options, HeadStatsTable stats) {
    if (options.isAuto(GRANULARITY)) {
      return stats.groupSize() > 1 ? PlanRow.KV_HEAD : PlanRow.QUERY_HEAD;
    }
    String value = options.string(GRANULARITY).trim();
    if (!value.equals(PlanRow.KV_HEAD) && !value.equals(PlanRow.QUERY_HEAD)) {
      throw new HeadwiseException(
          "option granularity of method moa must be kv_head, query_head or auto, got '"
              + value
              + "'");
    }
    return value;
  }

  /**
   * Tokens a rule keeps at length n in a row with {@code sink} sink tokens: min(n, S + max(0, α − S
   * + β·n)).
   */
  static double keptTokens(MoaRule rule, int sink, double n) {
    return Math.min(n, sink + Math.max(0.0, rule.alpha() - sink + rule.beta() * n));
  }

  /**
   * Midpoint-rule steps of {@link #positionCost} over the query positions a rule drops tokens at.
   */
  static final int POSITION_STEPS = 64;

  /**
   * The cost of a rule at length N over the query positions it serves. The exported graph and the
   * decode cache give the query at position n (n keys visible) the band w(n) = max(0, α − S + β·n)
   * of the rule at length n, not the band w(N) of the last position, so two rules that keep the
   * same tokens at N (say α = 200, β = 0 and α = −200, β = 1 at N = 400) differ at every earlier
   * position: the second keeps only the sinks before position 200. The statistic E(w) (the cost at
   * N of one fixed band w at every position) is therefore read at each position's own band: the
   * rule costs the mean of E(w(n)) over the positions n ≤ N where it drops tokens. For β = 0 this
   * is E(w) itself; for β &gt; 0 it is at least E(w(N)), since every earlier band is narrower, so a
   * rule never costs less than a β = 0 rule of the same size at N that keeps more everywhere.
   */
  static double positionCost(
      BucketEvidence evidence, int layer, int head, MoaRule rule, int sink, int length) {
    if (keptTokens(rule, sink, length) >= length) {
      return 0.0;
    }
    if (rule.beta() == 0) {
      // the same band at every position: the statistic as measured
      return evidence.at(layer, head, keptTokens(rule, sink, length) - sink).cost();
    }
    // kept(n) − n is non-increasing in n for β ≤ 1, so the positions that drop tokens are (first,
    // N]
    double first = 0;
    double hi = length;
    for (int i = 0; i < 60; i++) {
      double mid = 0.5 * (first + hi);
      if (keptTokens(rule, sink, mid) >= mid) {
        first = mid;
      } else {
        hi = mid;
      }
    }
    double step = (length - first) / POSITION_STEPS;
    double sum = 0;
    for (int i = 0; i < POSITION_STEPS; i++) {
      double n = first + (i + 0.5) * step;
      sum += evidence.at(layer, head, keptTokens(rule, sink, n) - sink).cost();
    }
    return sum / POSITION_STEPS;
  }

  @Override
  public Plan plan(PlanRequest request) {
    PlanOptions options = PlanOptions.resolve(METHOD, OPTIONS, request.options());
    Prepared prepared = prepare(request);
    MoaProblem problem = prepared.problem();
    int workers =
        options.isAuto(WORKERS)
            ? Math.min(8, Runtime.getRuntime().availableProcessors())
            : options.integer(WORKERS, 1);
    MoaSolver.Settings main =
        new MoaSolver.Settings(
            options.number(TIME_LIMIT_SECONDS, 0.001, 1e6),
            options.number(RELATIVE_GAP, 0.0, 1.0),
            workers,
            options.integer(SEED));
    int lengths = problem.numLengths();
    double[] ones = new double[lengths];
    Arrays.fill(ones, 1.0);
    MoaSolution solution = MoaSolver.solve(problem, ones, null, main, null);
    if (solution.ruleOfUnit() == null) {
      if (solution.status() == SolverStatus.INFEASIBLE) {
        throw new HeadwiseException(
            "no MoA plan meets density in ["
                + options.string(LOWER_BOUND_RATIO)
                + "·F, F] for F="
                + request.kvFraction()
                + " at every length "
                + request.targetLengths()
                + " with at"
                + " most "
                + problem.maxRulesPerLayer()
                + " rules per layer; widen lower_bound_ratio, raise"
                + " max_rules_per_layer or refine the rule grid (alpha_step, betas)");
      }
      throw new HeadwiseException(
          "CP-SAT found no MoA plan within time_limit_seconds="
              + main.timeLimitSeconds()
              + " (status "
              + solution.status()
              + "); raise time_limit_seconds");
    }

    List<PlanCandidate> candidates = new ArrayList<>();
    int bins = options.integer(PARETO_BINS, 0);
    Map<String, Object> base = baseParams(request, prepared, options);
    if (lengths >= 2 && bins > 0) {
      MoaSolver.Settings pareto =
          new MoaSolver.Settings(
              options.number(PARETO_TIME_LIMIT_SECONDS, 0.001, 1e6),
              main.relativeGapLimit(),
              workers,
              main.seed());
      List<MoaSolution> front = paretoFront(problem, solution, bins, pareto);
      for (int i = 0; i < front.size(); i++) {
        MoaSolution s = front.get(i);
        String id = request.planId() + "-pareto-" + i;
        List<PlanRow> rows =
            PlanAssembly.rows(
                new PlanRequest(
                    id,
                    request.stats(),
                    request.kvFraction(),
                    request.targetLengths(),
                    Map.of(),
                    request.createdAtMillis()),
                METHOD,
                prepared.granularity(),
                policies(request.stats(), prepared, s.ruleOfUnit()),
                base);
        Map<Integer, Double> objectives = new TreeMap<>();
        for (int n = 0; n < lengths; n++) {
          objectives.put(problem.lengths()[n], s.costByLength()[n]);
        }
        candidates.add(
            new PlanCandidate(
                id,
                rows,
                objectives,
                KvFraction.atLengths(rows, request.targetLengths()),
                s.status()));
      }
    }

    Map<String, Object> params = new LinkedHashMap<>(base);
    Map<String, Object> solver = new LinkedHashMap<>();
    solver.put("solver", "OR-Tools CP-SAT");
    solver.put("status", solution.status().name());
    solver.put("objective", solution.objective());
    solver.put("best_bound", solution.bestBound());
    solver.put("relative_gap", solution.relativeGap());
    solver.put("wall_seconds", solution.wallSeconds());
    solver.put("workers", workers);
    solver.put("time_limit_seconds", main.timeLimitSeconds());
    solver.put("relative_gap_limit", main.relativeGapLimit());
    params.put("solver", solver);
    Map<String, Double> byLength = new LinkedHashMap<>();
    for (int n = 0; n < lengths; n++) {
      byLength.put(String.valueOf(problem.lengths()[n]), solution.costByLength()[n]);
    }
    params.put("objective_by_length", byLength);
    params.put("pareto_candidates", candidates.size());
    List<HeadPolicy> heads = policies(request.stats(), prepared, solution.ruleOfUnit());
    params.putAll(cacheAccounting(request, prepared, heads));
    return PlanAssembly.assemble(
        request, METHOD, prepared.granularity(), heads, params, null, candidates);
  }

  private static Map<String, Object> baseParams(
      PlanRequest request, Prepared prepared, PlanOptions options) {
    Map<String, Object> params = new LinkedHashMap<>();
    params.put("sink_tokens", prepared.sinkTokens());
    params.put("cost_statistic", prepared.costStatistic());
    params.put("bucket_evidence", options.string(BUCKET_EVIDENCE));
    params.put("buckets_read", prepared.bucketsRead());
    params.put(
        "evidence_rule",
        (BucketEvidence.MAX.equals(options.string(BUCKET_EVIDENCE))
                ? "a rule's cost at length N is the largest over every profiled bucket T (T < N read at the window"
                    + " scaled by T/N, T >= N as measured); each head's evidence names the bucket that decided it"
                    + " at its window at N"
                : "the bucket nearest N only (window scaled by T/N when T < N)")
            + "; a rule with beta > 0 costs the mean of that over the positions n <= N where it drops tokens,"
            + " each read at its own band alpha - S + beta*n");
    if (!prepared.warnings().isEmpty()) {
      params.put("warnings", prepared.warnings());
    }
    params.put("alpha_step", prepared.alphaStep());
    params.put("betas", prepared.betas());
    params.put(
        "rule_filter_lengths",
        List.of(prepared.minLength(), prepared.profileLength(), prepared.maxLength()));
    params.put("rules", prepared.rules().size());
    params.put(
        "density_bounds",
        List.of(options.number(LOWER_BOUND_RATIO) * request.kvFraction(), request.kvFraction()));
    params.put("max_rules_per_layer", prepared.problem().maxRulesPerLayer());
    params.put("layer_scales", options.string(LAYER_SCALES));
    params.put(
        "span",
        "kept(N) = min(N, alpha + beta*N) with the first sink_tokens tokens as sinks;"
            + " row alpha = MoA alpha - sink_tokens");
    return params;
  }

  /**
   * What the plan costs under the two engine conventions, so neither is hidden: per kv-head cache
   * (an engine that stores one cache per kv head keeps, for a group, its widest span) and per
   * query-head cache (MoA's engine, which runs GQA models converted to MHA and so stores g caches
   * per kv head). The plan's own expected KV fraction is the one its granularity budgets.
   */
  private static Map<String, Object> cacheAccounting(
      PlanRequest request, Prepared prepared, List<HeadPolicy> heads) {
    HeadStatsTable stats = request.stats();
    int g = stats.groupSize();
    boolean perKvHead = PlanRow.KV_HEAD.equals(prepared.granularity());
    Map<String, Double> perKv = new LinkedHashMap<>();
    Map<String, Double> perQuery = new LinkedHashMap<>();
    for (int n : request.targetLengths()) {
      double[] groupMax = new double[stats.numLayers() * stats.numKvHeads()];
      double querySum = 0;
      for (HeadPolicy h : heads) {
        double kept = Math.min(n, h.sinkTokens() + Math.max(0.0, h.alpha() + h.beta() * n)) / n;
        if (perKvHead) {
          groupMax[h.layer() * stats.numKvHeads() + h.head()] = kept;
          querySum += kept * g;
        } else {
          int k = h.layer() * stats.numKvHeads() + h.head() / g;
          groupMax[k] = Math.max(groupMax[k], kept);
          querySum += kept;
        }
      }
      perKv.put(String.valueOf(n), Arrays.stream(groupMax).average().orElseThrow());
      perQuery.put(String.valueOf(n), querySum / (stats.numLayers() * stats.numHeads()));
    }
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("granularity", prepared.granularity());
    out.put("kv_fraction_per_kv_head", perKv);
    out.put("kv_fraction_per_query_head", perQuery);
    out.put(
        "engine_convention",
        perKvHead
            ? "one rule per kv-head group ("
                + g
                + " query heads): the budget is per kv-head cache, what an engine"
                + " storing one cache per kv head keeps; MoA's own engine expands GQA to MHA and then stores "
                + g
                + " copies of each group's cache with the same span (same fraction of a "
                + g
                + "x larger cache)"
            : g > 1
                ? "one rule per query head, budget per query-head cache: MoA's GQA-to-MHA convention ("
                    + g
                    + " caches per kv head); an engine storing one cache per kv head keeps each group's widest span,"
                    + " kv_fraction_per_kv_head"
                : "multi-head attention: query-head and kv-head caches coincide");
    return out;
  }

  private static List<HeadPolicy> policies(
      HeadStatsTable stats, Prepared prepared, int[] ruleOfUnit) {
    List<HeadPolicy> heads = new ArrayList<>();
    int sink = prepared.sinkTokens();
    for (int u = 0; u < ruleOfUnit.length; u++) {
      MoaRule rule = prepared.rules().get(ruleOfUnit[u]);
      heads.add(
          HeadPolicy.span(
                  u / prepared.unitsPerLayer(),
                  u % prepared.unitsPerLayer(),
                  PlanRow.ELASTIC,
                  sink,
                  rule.alpha() - sink,
                  rule.beta())
              .with("moa_alpha", rule.alpha())
              .with("moa_beta", rule.beta())
              .with("rule", ruleOfUnit[u])
              .with("evidence", evidence(prepared, u, ruleOfUnit[u])));
    }
    return heads;
  }

  /**
   * Per target length: the chosen rule's cost for this unit and the bucket whose statistic decided
   * it.
   */
  private static Map<String, Object> evidence(Prepared prepared, int unit, int rule) {
    Map<String, Object> out = new LinkedHashMap<>();
    int[] lengths = prepared.problem().lengths();
    for (int n = 0; n < lengths.length; n++) {
      double keptTokens = prepared.problem().keptTokens()[rule][n];
      Map<String, Object> e = new LinkedHashMap<>();
      e.put("statistic", prepared.costStatistic());
      e.put("window", keptTokens - prepared.sinkTokens());
      double c = prepared.problem().cost()[unit][rule][n];
      e.put("bucket", c > 0 ? prepared.evidenceBucket()[unit][rule][n] : null);
      // the rule's cost over the positions it serves (positionCost), not only at the window above
      e.put("cost", c);
      out.put(String.valueOf(lengths[n]), e);
    }
    return out;
  }

  /** MoA's ε-constraint search; returns the non-dominated solutions, the main one included. */
  static List<MoaSolution> paretoFront(
      MoaProblem problem, MoaSolution main, int bins, MoaSolver.Settings settings) {
    int k = problem.numLengths();
    List<MoaSolution> found = new ArrayList<>();
    found.add(main);
    MoaSolution[] single = new MoaSolution[k];
    for (int i = 0; i < k; i++) {
      single[i] = MoaSolver.solve(problem, primaryWeights(k, i), null, settings, main.ruleOfUnit());
      if (single[i].ruleOfUnit() != null) {
        found.add(single[i]);
      }
    }
    double[] lo = new double[k];
    double[] hi = new double[k];
    for (int j = 0; j < k; j++) {
      lo[j] = Double.POSITIVE_INFINITY;
      hi[j] = Double.NEGATIVE_INFINITY;
      for (MoaSolution s : found) {
        lo[j] = Math.min(lo[j], s.costByLength()[j]);
        hi[j] = Math.max(hi[j], s.costByLength()[j]);
      }
    }
    int combos = (int) Math.pow(bins, k - 1);
    for (int i = 0; i < k; i++) {
      for (int combo = 0; combo < combos; combo++) {
        double[] eps = new double[k];
        int rest = combo;
        for (int j = 0; j < k; j++) {
          if (j == i) {
            eps[j] = Double.POSITIVE_INFINITY;
            continue;
          }
          int bin = rest % bins;
          rest /= bins;
          eps[j] = lo[j] + (bin + 1.0) / bins * (hi[j] - lo[j]);
        }
        MoaSolution s =
            MoaSolver.solve(problem, primaryWeights(k, i), eps, settings, main.ruleOfUnit());
        if (s.ruleOfUnit() != null) {
          found.add(s);
        }
      }
    }
    List<MoaSolution> front = new ArrayList<>();
    for (MoaSolution s : found) {
      boolean dominated = false;
      for (MoaSolution t : found) {
        if (t != s && dominates(t.costByLength(), s.costByLength())) {
          dominated = true;
          break;
        }
      }
      boolean duplicate =
          front.stream()
              .anyMatch(
                  t ->
                      Arrays.equals(t.ruleOfUnit(), s.ruleOfUnit())
                          || Arrays.equals(t.costByLength(), s.costByLength()));
      if (!dominated && !duplicate) {
        front.add(s);
      }
    }
    front.sort(
        (a, b) ->
            Double.compare(
                Arrays.stream(a.costByLength()).sum(), Arrays.stream(b.costByLength()).sum()));
    return front;
  }

  /**
   * Weight 1 on the primary length and 1e-3 on the others, so ties go to the solution better
   * elsewhere.
   */
  private static double[] primaryWeights(int k, int primary) {
    double[] w = new double[k];
    Arrays.fill(w, 1e-3);
    w[primary] = 1.0;
    return w;
  }

  private static boolean dominates(double[] a, double[] b) {
    boolean strictly = false;
    for (int i = 0; i < a.length; i++) {
      if (a[i] > b[i] + 1e-12) {
        return false;
      }
      strictly |= a[i] < b[i] - 1e-12;
    }
    return strictly;
  }
}
