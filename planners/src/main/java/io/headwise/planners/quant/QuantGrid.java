package io.headwise.planners.quant;

/**
 * Grid fitting and rounding shared by RTN and GPTQ: finds a group's scale and zero point and maps a
 * weight to its code. Rounding is half to even ({@link Math#rint}), matching {@code torch.round}.
 */
public final class QuantGrid {

  /**
   * Lower bound on the range (asymmetric) or absolute maximum (symmetric) before dividing, as in
   * RSQ/QuaRot.
   */
  public static final double MIN_RANGE = 1e-5;

  /** Exponent of the clip-search error {@code Σ|q − w|^p}. */
  public static final double CLIP_NORM = 2.4;

  /** Grid resolution of the clip search: shrink factors {@code 1 − i/CLIP_GRID}. */
  public static final int CLIP_GRID = 100;

  /**
   * Largest shrink tried is {@code CLIP_MAX_SHRINK}, i.e. {@code i < CLIP_MAX_SHRINK · CLIP_GRID}.
   */
  public static final double CLIP_MAX_SHRINK = 0.8;

  private QuantGrid() {}

  /**
   * Fits the grid of {@code values[from, to)} (one output row's group).
   *
   * @throws IllegalArgumentException if the range is empty
   */
  public static GridParams fit(double[] values, int from, int to, QuantConfig config) {
    if (to <= from) {
      throw new IllegalArgumentException("empty group [" + from + ", " + to + ")");
    }
    double min = 0;
    double max = 0;
    for (int i = from; i < to; i++) {
      double v = values[i];
      if (v < min) {
        min = v;
      }
      if (v > max) {
        max = v;
      }
    }
    boolean symmetric = config.scheme() == QuantScheme.SYMMETRIC;
    int maxCode = config.maxCode();
    double scale;
    int zero;
    double absMax = 0;
    if (symmetric) {
      absMax = Math.max(Math.max(-min, max), MIN_RANGE);
      scale = absMax / (config.symmetricZero() - 1);
      zero = config.symmetricZero();
    } else {
      if (min == 0 && max == 0) {
        min = -1;
        max = 1;
      }
      scale = Math.max(max - min, MIN_RANGE) / maxCode;
      zero = (int) Math.rint(-min / scale);
    }
    if (!config.clipSearch()) {
      return new GridParams(scale, zero);
    }
    double bestError = Double.POSITIVE_INFINITY;
    int steps = (int) (CLIP_MAX_SHRINK * CLIP_GRID);
    for (int i = 0; i < steps; i++) {
      double shrink = 1 - (double) i / CLIP_GRID;
      double candidateScale;
      int candidateZero;
      if (symmetric) {
        candidateScale = shrink * absMax / (config.symmetricZero() - 1);
        candidateZero = config.symmetricZero();
      } else {
        double lo = shrink * min;
        double hi = shrink * max;
        candidateScale = (hi - lo) / maxCode;
        candidateZero = (int) Math.rint(-lo / candidateScale);
      }
      double error = 0;
      for (int j = from; j < to && error < bestError; j++) {
        double w = values[j];
        double q =
            dequantize(
                code(w, candidateScale, candidateZero, maxCode), candidateScale, candidateZero);
        double diff = Math.abs(q - w);
        if (diff != 0) {
          error += Math.pow(diff, CLIP_NORM);
        }
      }
      if (error < bestError) {
        bestError = error;
        scale = candidateScale;
        zero = candidateZero;
      }
    }
    return new GridParams(scale, zero);
  }

  /** The code of {@code w}: {@code clamp(rint(w / scale) + zero, 0, maxCode)}. */
  public static int code(double w, double scale, int zero, int maxCode) {
    double c = Math.rint(w / scale) + zero;
    if (c < 0) {
      return 0;
    }
    if (c > maxCode) {
      return maxCode;
    }
    return (int) c;
  }

  /** The value a code stands for: {@code (code − zero) · scale}. */
  public static double dequantize(int code, double scale, int zero) {
    return scale * (code - zero);
  }
}
