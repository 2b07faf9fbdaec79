package io.headwise.planners;

import java.util.Arrays;
import java.util.Comparator;

/** Deterministic rankings of per-head values, shared by the planners that keep top heads full. */
final class Ranking {
  private Ranking() {}

  /**
   * Indices by descending value; ties go to the lower index (layer-major: lower layer, then head),
   * where the papers break them with random noise.
   */
  static Integer[] descending(double[] values) {
    Integer[] order = new Integer[values.length];
    for (int i = 0; i < values.length; i++) {
      order[i] = i;
    }
    Arrays.sort(
        order, Comparator.<Integer>comparingDouble(i -> -values[i]).thenComparingInt(i -> i));
    return order;
  }

  /** Marks the {@code count} highest values (see {@link #descending}). */
  static boolean[] top(double[] values, int count) {
    Integer[] order = descending(values);
    boolean[] out = new boolean[values.length];
    for (int i = 0; i < Math.min(count, values.length); i++) {
      out[order[i]] = true;
    }
    return out;
  }

  /** Each index's rank (0 = highest; see {@link #descending}). */
  static int[] ranks(double[] values) {
    Integer[] order = descending(values);
    int[] rank = new int[values.length];
    for (int r = 0; r < order.length; r++) {
      rank[order[r]] = r;
    }
    return rank;
  }
}
