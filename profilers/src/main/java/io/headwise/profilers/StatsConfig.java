package io.headwise.profilers;

import io.headwise.schemas.HeadwiseException;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;

/**
 * The statistic grids of a profiling run: sink sizes s, local windows w, the sink count S of
 * coverage and stream deviation, heavy-hitter percentages p, and whether stream deviation and
 * per-token importance are computed. Windows larger than a bucket's length are dropped for that
 * bucket ("capped at T").
 */
public record StatsConfig(
    List<Integer> sinks,
    List<Integer> windows,
    List<Integer> streamSinks,
    List<Integer> heavyHitterPercents,
    boolean streamDeviation,
    boolean tokenImportance)
    implements Serializable {

  public static final List<Integer> DEFAULT_SINKS = List.of(1, 4);
  public static final List<Integer> DEFAULT_WINDOWS = List.of(1, 4, 16, 64, 256, 1024, 4096);
  public static final List<Integer> DEFAULT_STREAM_SINKS = List.of(4);
  public static final List<Integer> DEFAULT_HEAVY_HITTER_PERCENTS = List.of(1, 5, 10, 20);

  public StatsConfig {
    sinks = sortedPositive("--sinks", sinks);
    windows = sortedPositive("--windows", windows);
    streamSinks = sortedPositive("--stream-sinks", streamSinks);
    heavyHitterPercents = sortedPositive("--heavy-hitters", heavyHitterPercents);
    for (int p : heavyHitterPercents) {
      if (p > 100) {
        throw new HeadwiseException("--heavy-hitters takes percentages in 1..100, got " + p);
      }
    }
  }

  /** The defaults of the statistics contract (docs/statistics.md). */
  public static StatsConfig defaults() {
    return new StatsConfig(
        DEFAULT_SINKS,
        DEFAULT_WINDOWS,
        DEFAULT_STREAM_SINKS,
        DEFAULT_HEAVY_HITTER_PERCENTS,
        true,
        true);
  }

  /** The windows kept for sequences padded to {@code length}: those not larger than it. */
  public List<Integer> windowsFor(int length) {
    List<Integer> out = new ArrayList<>();
    for (int w : windows) {
      if (w <= length) {
        out.add(w);
      }
    }
    if (out.isEmpty()) {
      out.add(windows.get(0));
    }
    return out;
  }

  private static List<Integer> sortedPositive(String option, List<Integer> values) {
    if (values == null || values.isEmpty()) {
      throw new HeadwiseException(option + " needs at least one value");
    }
    TreeSet<Integer> s = new TreeSet<>();
    for (Integer v : values) {
      if (v == null || v < 1) {
        throw new HeadwiseException(option + " takes positive integers, got " + v);
      }
      s.add(v);
    }
    return List.copyOf(s);
  }
}
