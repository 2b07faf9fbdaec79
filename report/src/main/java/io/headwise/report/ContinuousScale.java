package io.headwise.report;

/**
 * A linear map from [min, max] to the viridis colour scale; a constant range maps to the middle
 * colour.
 */
record ContinuousScale(double min, double max) {
  /** The scale over the finite values of {@code values}. */
  static ContinuousScale over(double[] values) {
    double lo = Double.POSITIVE_INFINITY;
    double hi = Double.NEGATIVE_INFINITY;
    for (double v : values) {
      if (Double.isFinite(v)) {
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
    }
    return lo > hi ? new ContinuousScale(0, 1) : new ContinuousScale(lo, hi);
  }

  /** Position of {@code v} in [0, 1]. */
  double position(double v) {
    if (!Double.isFinite(v)) {
      return Double.NaN;
    }
    return max > min ? (v - min) / (max - min) : 0.5;
  }

  String color(double v) {
    return Colors.viridis(position(v));
  }
}
