package io.headwise.planners;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SortedSet;

/**
 * The cost of giving a query head a band of w recent tokens (after S sinks) at target length N,
 * combined over every profiled length bucket, so that a plan does not depend on which data happened
 * to land in which bucket.
 *
 * <p>Each bucket T with the statistic is read at the window the rule keeps there:
 *
 * <ul>
 *   <li>T ≥ N: at w as measured (its queries also reach distances beyond N, so this may over-state
 *       the cost at N: conservative);
 *   <li>T &lt; N: at w·T/N, the same share of the context (exact for dependencies spread over the
 *       whole context, conservative for local heads); since a statistic falls with the window, a
 *       head shown at T to lose a dependency at distance d when its window is shorter than d keeps
 *       at least that cost for every window shorter than d at N ≥ T.
 * </ul>
 *
 * The evidence is the largest cost over the buckets — the most damaging measurement wins, whatever
 * bucket (and so whatever calibration source) it came from — and the bucket that gave it is kept,
 * for the plan's per-head params. Costs: the statistic itself for deviation and output KL, 1 −
 * coverage for coverage. {@code nearest} mode reads only the bucket nearest N on a log scale (with
 * the same window scaling), the behaviour before evidence was combined, kept for comparison.
 */
final class BucketEvidence {
  /** Option value: combine every bucket (default). */
  static final String MAX = "max";

  /** Option value: the bucket nearest the target length only. */
  static final String NEAREST = "nearest";

  /** One head's cost at one rule and length, and the bucket whose statistic decided it. */
  record Evidence(double cost, int bucket) {}

  private final WindowedStat family;
  private final int targetLength;
  private final List<WindowCurve> curves = new ArrayList<>();

  BucketEvidence(
      HeadStatsTable stats, WindowedStat family, int sinks, int targetLength, String mode) {
    this.family = family;
    this.targetLength = targetLength;
    SortedSet<Integer> buckets = stats.buckets(family, sinks);
    if (NEAREST.equals(mode)) {
      curves.add(stats.curve(family, sinks, HeadStatsTable.nearestBucket(buckets, targetLength)));
    } else {
      for (int b : buckets) {
        curves.add(stats.curve(family, sinks, b));
      }
    }
  }

  /** Cost of a band of {@code window} tokens for (layer, query head) at the target length. */
  Evidence at(int layer, int head, double window) {
    double best = Double.NEGATIVE_INFINITY;
    int bucket = -1;
    for (WindowCurve c : curves) {
      double w = window * Math.min(1.0, (double) c.bucket() / targetLength);
      double v = c.at(layer, head, w);
      double cost = Math.max(0.0, family == WindowedStat.COVERAGE ? 1.0 - v : v);
      if (cost > best) {
        best = cost;
        bucket = c.bucket();
      }
    }
    return new Evidence(best, bucket);
  }

  /** The buckets read, ascending. */
  List<Integer> buckets() {
    return curves.stream().map(WindowCurve::bucket).toList();
  }

  /**
   * A warning when no bucket reaches the target length: dependencies at distances between the
   * longest bucket and N were never measured (the window scaling extrapolates them). Null when some
   * bucket is at least N.
   */
  String missingWarning(String statistic) {
    int longest = curves.stream().mapToInt(WindowCurve::bucket).max().orElse(0);
    return longest >= targetLength
        ? null
        : "no "
            + statistic
            + " statistics at or beyond length "
            + targetLength
            + " (longest bucket "
            + longest
            + "): dependencies at distances in ("
            + longest
            + ", "
            + targetLength
            + "] were not measured; profile samples of that length (calibrate --lengths)";
  }

  /**
   * A per-head evidence record for the params: the statistic, the window, the bucket that decided
   * and its value, and the calibration sources of that bucket's samples when the profile recorded
   * them.
   */
  static Map<String, Object> describe(
      HeadStatsTable stats, String statistic, double window, Evidence e) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("statistic", statistic);
    m.put("window", window);
    m.put("bucket", e.bucket());
    m.put("value", e.cost());
    putSources(m, stats, e.bucket());
    return m;
  }

  /** Adds {@code sources}, the calibration sources of a bucket's samples, when they are known. */
  static void putSources(Map<String, Object> evidence, HeadStatsTable stats, int bucket) {
    Map<String, Long> sources = stats.bucketSources(bucket);
    if (!sources.isEmpty()) {
      evidence.put("sources", sources);
    }
  }
}
