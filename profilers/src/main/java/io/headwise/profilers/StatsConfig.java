package io.headwise.profilers;

import io.headwise.schemas.HeadwiseException;
import java.io.Serializable;
import java.util.List;
import java.util.TreeSet;

/**
 * The statistic grids of a profiling run: sink sizes s, local windows w, the sink count S of
 * coverage and stream deviation, heavy-hitter percentages p, and whether stream deviation and
 * per-token importance are computed. Windows larger than a bucket's length are dropped for that
 * bucket ("capped at T"). With {@code bucketEighths} (the default grid) every eighth of the bucket
 * length is measured as well: plans put their bands at a fraction of the target length, and the ×4
 * steps of the fixed grid left, e.g., everything between windows 64 and 256 of a 256-token bucket
 * to one interpolated line per head (docs/results.md (h)).
 */
public record StatsConfig(
    List<Integer> sinks,
    List<Integer> windows,
    List<Integer> streamSinks,
    List<Integer> heavyHitterPercents,
    boolean streamDeviation,
    boolean tokenImportance,
    boolean bucketEighths)
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

  /** A config measuring exactly the given windows (no eighths of the bucket). */
  public StatsConfig(
      List<Integer> sinks,
      List<Integer> windows,
      List<Integer> streamSinks,
      List<Integer> heavyHitterPercents,
      boolean streamDeviation,
      boolean tokenImportance) {
    this(sinks, windows, streamSinks, heavyHitterPercents, streamDeviation, tokenImportance, false);
  }

  /** The defaults of the statistics contract (docs/statistics.md). */
  public static StatsConfig defaults() {
    return new StatsConfig(
        DEFAULT_SINKS,
        DEFAULT_WINDOWS,
        DEFAULT_STREAM_SINKS,
        DEFAULT_HEAVY_HITTER_PERCENTS,
        true,
        true,
        true);
  }

  /**
   * The windows kept for sequences padded to {@code length}: those not larger than it, with every
   * eighth of it when {@code bucketEighths}; ascending.
   */
  public List<Integer> windowsFor(int length) {
    TreeSet<Integer> out = new TreeSet<>();
    for (int w : windows) {
      if (w <= length) {
        out.add(w);
      }
    }
    if (bucketEighths) {
      for (int k = 1; k < 8; k++) {
        if (length * k / 8 >= 1) {
          out.add(length * k / 8);
        }
      }
    }
    if (out.isEmpty()) {
      out.add(windows.get(0));
    }
    return List.copyOf(out);
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
