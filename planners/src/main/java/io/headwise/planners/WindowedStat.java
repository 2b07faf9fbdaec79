package io.headwise.planners;

import io.headwise.schemas.StatNames;

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
}
