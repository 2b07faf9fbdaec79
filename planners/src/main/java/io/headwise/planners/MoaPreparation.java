package io.headwise.planners;

import static io.headwise.planners.MoaPlanner.ALPHA_STEP;
import static io.headwise.planners.MoaPlanner.BETAS;
import static io.headwise.planners.MoaPlanner.BUCKET_EVIDENCE;
import static io.headwise.planners.MoaPlanner.DEFAULT_SINK_TOKENS;
import static io.headwise.planners.MoaPlanner.GRANULARITY;
import static io.headwise.planners.MoaPlanner.LAYER_SCALES;
import static io.headwise.planners.MoaPlanner.LOWER_BOUND_RATIO;
import static io.headwise.planners.MoaPlanner.MAX_RULES_PER_LAYER;
import static io.headwise.planners.MoaPlanner.NO_LAYER_SCALES;
import static io.headwise.planners.MoaPlanner.PROFILE_LENGTH;
import static io.headwise.planners.MoaPlanner.SINK_TOKENS;

import io.headwise.planners.moa.MoaProblem;
import io.headwise.planners.moa.MoaRule;
import io.headwise.planners.moa.MoaRuleGrid;
import io.headwise.schemas.HeadwiseException;
import io.headwise.schemas.PlanRow;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SortedSet;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * The MoA problem a {@link MoaPlanner} request poses: the rule grid (α, β per head), the cost of
 * every (head, rule, length) from the profiled statistics read over the positions each rule serves
 * ({@link #positionCost}), the bounds and the options the solver needs, and what a solution needs
 * to become rows. Public for the solver benchmark, which solves the same problem.
 */
public final class MoaPreparation {
  private MoaPreparation() {}

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
      List<String> warnings,
      int uniformRule) {}

  /**
   * Builds the rule grid and the (head, rule, length) cost table; public for the solver benchmark.
   */
  public static Prepared prepare(PlanRequest request) {
    PlanOptions options =
        PlanOptions.resolve(MoaPlanner.METHOD, MoaPlanner.OPTIONS, request.options());
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
                ? stats.deviationCostName(sink)
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

    List<MoaRule> rules =
        new ArrayList<>(MoaRuleGrid.build(minLength, profileLength, maxLength, alphaStep, betas));
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
    // the uniform rule is always a candidate: with it the solver can never return a plan it costs
    // above uniform (the grid holds it only when F·N falls on the α step)
    MoaRule uniform = uniformRule(lengths, request.kvFraction(), sink);
    int uniformRule = -1;
    for (int r = 0; r < rules.size() && uniformRule < 0; r++) {
      if (Math.abs(rules.get(r).alpha() - uniform.alpha()) < 1e-9
          && Math.abs(rules.get(r).beta() - uniform.beta()) < 1e-12) {
        uniformRule = r;
      }
    }
    if (uniformRule < 0) {
      rules.add(uniform);
      uniformRule = rules.size() - 1;
    }
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
        List.copyOf(warnings),
        uniformRule);
  }

  /**
   * The uniform StreamingLLM plan's span as a MoA rule (α counts the sinks): one fixed k = α tokens
   * when it meets the budget at every target length, as the baseline sizes it, else the
   * proportional F·N (α = 0, β = F).
   */
  static MoaRule uniformRule(List<Integer> lengths, double f, int sink) {
    SpanSizing.Result fixed = SpanSizing.fixedKept(lengths, f, 0.0, sink + 1);
    return fixed.withinTolerance() ? new MoaRule(fixed.kept(), 0.0) : new MoaRule(0.0, f);
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
}
