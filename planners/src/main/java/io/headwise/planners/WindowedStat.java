package io.headwise.planners;

import io.headwise.schemas.StatNames;
import java.util.OptionalInt;

/**
 * Statistic families measured on a window grid, which {@link HeadStatsTable#interpolate} can
 * evaluate at any window.
 */
public enum WindowedStat {
  LOCAL_MASS,
  COVERAGE,
  STREAM_DEVIATION,
  /**
   * Measured output KL of switching the head's kv group to S sinks + window w (profile
   * --sensitivity).
   */
  OUTPUT_KL;

  /**
   * The statistic name of this family at sink count {@code sinks} (ignored for local mass) and
   * window w.
   */
  public String statName(int sinks, int window) {
    switch (this) {
      case LOCAL_MASS:
        return StatNames.localMass(window);
      case COVERAGE:
        return StatNames.coverage(sinks, window);
      case OUTPUT_KL:
        return StatNames.outputKl(sinks, window);
      default:
        return StatNames.streamDeviation(sinks, window);
    }
  }

  /** The value of this family when the band covers every key. */
  double whenEverythingKept() {
    return this == STREAM_DEVIATION || this == OUTPUT_KL ? 0.0 : 1.0;
  }

  /** The sink count S of {@code stat} when it is of this family; empty for local mass. */
  OptionalInt sinks(String stat) {
    switch (this) {
      case COVERAGE:
        return StatNames.coverageSinks(stat);
      case STREAM_DEVIATION:
        return StatNames.deviationSinks(stat);
      case OUTPUT_KL:
        return StatNames.outputKlSinks(stat);
      default:
        return OptionalInt.empty();
    }
  }

  /**
   * The window w of {@code stat} when it is of this family at sink count {@code sinks} (ignored for
   * local mass), else empty.
   */
  OptionalInt window(String stat, int sinks) {
    switch (this) {
      case LOCAL_MASS:
        return StatNames.localWindow(stat);
      case COVERAGE:
        return StatNames.coverageSinks(stat).orElse(-1) == sinks
            ? StatNames.coverageWindow(stat)
            : OptionalInt.empty();
      case OUTPUT_KL:
        return StatNames.outputKlSinks(stat).orElse(-1) == sinks
            ? StatNames.outputKlWindow(stat)
            : OptionalInt.empty();
      default:
        return StatNames.deviationSinks(stat).orElse(-1) == sinks
            ? StatNames.deviationWindow(stat)
            : OptionalInt.empty();
    }
  }
}
