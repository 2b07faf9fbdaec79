package io.headwise.planners;

import io.headwise.planners.moa.MoaRule;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.SortedSet;
import java.util.TreeSet;

/**
 * The predicted cost of giving each kv head sinks plus a recent window instead of its full cache:
 * the measured output KL of that switch ({@code profile --sensitivity}) when profiled, else the
 * head-output stream deviation (weighted by the head's share of its layer's output energy when
 * profiled, {@link HeadStatsTable}), else the dropped attention mass (1 − coverage). Per kv head it
 * is the largest cost over the group's query heads (they share one cache), read over every length
 * bucket as {@link BucketEvidence} defines, and averaged over the target lengths.
 *
 * <p>The statistics are profiled at a few sink counts S; the one read is the largest S at most the
 * plan's sink count (else the smallest profiled), so with more sinks deployed than profiled the
 * cost scores a subset of the kept tokens (conservative). Planners that keep whole heads full
 * (DuoAttention, RazorAttention) use it to rank heads and to compare a plan with the uniform rule
 * at the same budget; summing it over heads is the additive approximation MoA's objective also
 * makes.
 */
final class KvHeadWindowCost {
  private final HeadStatsTable stats;
  private final WindowedStat family;
  private final int statSinks;
  private final String statistic;
  private final List<Integer> lengths;
  private final List<BucketEvidence> byLength = new ArrayList<>();
  private final Set<Integer> bucketsRead = new TreeSet<>();
  private final List<String> warnings = new ArrayList<>();

  private KvHeadWindowCost(
      HeadStatsTable stats,
      WindowedStat family,
      int statSinks,
      List<Integer> lengths,
      String evidenceMode) {
    this.stats = stats;
    this.family = family;
    this.statSinks = statSinks;
    this.lengths = List.copyOf(lengths);
    this.statistic =
        family == WindowedStat.OUTPUT_KL
            ? "output_kl_s" + statSinks
            : family == WindowedStat.STREAM_DEVIATION
                ? stats.deviationCostName(statSinks)
                : "1 - coverage_s" + statSinks;
    for (int length : lengths) {
      BucketEvidence e = new BucketEvidence(stats, family, statSinks, length, evidenceMode);
      byLength.add(e);
      bucketsRead.addAll(e.buckets());
      String missing = e.missingWarning(statistic);
      if (missing != null) {
        warnings.add(missing);
      }
    }
  }

  /**
   * The cost for a plan deploying {@code sinks} sink tokens, or empty when the stats have no
   * windowed statistic that can price a window.
   */
  static Optional<KvHeadWindowCost> of(
      HeadStatsTable stats, int sinks, List<Integer> lengths, String evidenceMode) {
    for (WindowedStat family :
        List.of(WindowedStat.OUTPUT_KL, WindowedStat.STREAM_DEVIATION, WindowedStat.COVERAGE)) {
      SortedSet<Integer> profiled = stats.sinkCounts(family);
      if (!profiled.isEmpty()) {
        SortedSet<Integer> atMost = profiled.headSet(sinks + 1);
        int s = atMost.isEmpty() ? profiled.first() : atMost.last();
        return Optional.of(new KvHeadWindowCost(stats, family, s, lengths, evidenceMode));
      }
    }
    return Optional.empty();
  }

  WindowedStat family() {
    return family;
  }

  /** The sink count S of the statistic read. */
  int statSinks() {
    return statSinks;
  }

  /** The statistic read, e.g. {@code stream_deviation_s4}. */
  String statistic() {
    return statistic;
  }

  List<Integer> bucketsRead() {
    return List.copyOf(bucketsRead);
  }

  /** Warnings for target lengths beyond every profiled bucket. */
  List<String> warnings() {
    return List.copyOf(warnings);
  }

  /** Per kv head (layer-major): the cost of a window of {@code window} recent tokens. */
  double[] at(double window) {
    double[] cost = new double[stats.numLayers() * stats.numKvHeads()];
    for (int n = 0; n < lengths.size(); n++) {
      for (int i = 0; i < cost.length; i++) {
        cost[i] += groupMax(n, i, window).cost() / lengths.size();
      }
    }
    return cost;
  }

  /**
   * Per kv head: the cost of the band {@code alpha + beta·n} recent tokens after {@code sinks}
   * sinks, read at each query position's own band ({@link MoaPreparation#positionCost}): a
   * proportional band (β &gt; 0) keeps fewer tokens at every position before N than a fixed band of
   * the same size at N, and costs accordingly.
   */
  double[] atBand(double alpha, double beta, int sinks) {
    MoaRule rule = new MoaRule(alpha + sinks, beta);
    int g = stats.groupSize();
    double[] cost = new double[stats.numLayers() * stats.numKvHeads()];
    for (int n = 0; n < lengths.size(); n++) {
      for (int i = 0; i < cost.length; i++) {
        int layer = i / stats.numKvHeads();
        int k = i % stats.numKvHeads();
        double max = 0;
        for (int h = k * g; h < (k + 1) * g; h++) {
          max =
              Math.max(
                  max,
                  MoaPreparation.positionCost(
                      byLength.get(n), layer, h, rule, sinks, lengths.get(n)));
        }
        cost[i] += max / lengths.size();
      }
    }
    return cost;
  }

  /**
   * Per kv head: the evidence at {@code window} for each target length (statistic, window, bucket,
   * value), for the plan's params.
   */
  List<Map<String, Object>> evidence(double window) {
    List<Map<String, Object>> out = new ArrayList<>();
    for (int i = 0; i < stats.numLayers() * stats.numKvHeads(); i++) {
      Map<String, Object> perLength = new LinkedHashMap<>();
      for (int n = 0; n < lengths.size(); n++) {
        perLength.put(
            String.valueOf(lengths.get(n)),
            BucketEvidence.describe(stats, statistic, window, groupMax(n, i, window)));
      }
      out.add(perLength);
    }
    return out;
  }

  /** The sum of the costs of the heads not kept full. */
  static double streamingCost(double[] cost, boolean[] full) {
    double sum = 0;
    for (int i = 0; i < cost.length; i++) {
      sum += full[i] ? 0.0 : cost[i];
    }
    return sum;
  }

  private BucketEvidence.Evidence groupMax(int lengthIndex, int kvIndex, double window) {
    int g = stats.groupSize();
    int layer = kvIndex / stats.numKvHeads();
    int k = kvIndex % stats.numKvHeads();
    BucketEvidence.Evidence max = null;
    for (int h = k * g; h < (k + 1) * g; h++) {
      BucketEvidence.Evidence e = byLength.get(lengthIndex).at(layer, h, window);
      if (max == null || e.cost() > max.cost()) {
        max = e;
      }
    }
    return max;
  }
}
