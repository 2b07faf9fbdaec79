package io.headwise.planners.quant;

import java.util.Arrays;

/**
 * RSQ's "scale" step: turns the attention each token receives in one calibration sequence into
 * per-token weights for the GPTQ Hessian ({@code H = Σ_t w_t x_t x_tᵀ}).
 *
 * <p>As RSQ's {@code OriginalAttentionWeighting} with {@code normalize="default"}: the raw scores
 * {@code s_t = Σ_heads Σ_queries P[h, i, t]} are min-max mapped to {@code [rMin, rMax]} ({@code r =
 * clamp((s − min s)/(max s − min s)·(rMax − rMin) + rMin, rMin, rMax)}), and the weights are {@code
 * w = r / mean(r)} (mean 1), the normalisation RSQ's {@code GPTQ.add_batch} applies. RSQ's scripts
 * use {@code rMin = 0.005}, {@code rMax = 1}.
 */
public final class TokenImportance {

  /** RSQ's shipped {@code --min_value}. */
  public static final double DEFAULT_MIN = 0.005;

  /** RSQ's shipped {@code --max_value}. */
  public static final double DEFAULT_MAX = 1.0;

  /**
   * Optional division of the raw scores by how many (causal) queries can see each token, before
   * min-max.
   */
  public enum Normalization {
    /** No division ({@code normalize="default"}, what RSQ ships). */
    NONE,
    /** {@code s_t / (T − t)} ({@code normalize="linear"}). */
    LINEAR,
    /** {@code s_t / √(T − t)} ({@code normalize="sqrt"}). */
    SQRT
  }

  private TokenImportance() {}

  /**
   * Weights with RSQ's defaults ({@code rMin = 0.005}, {@code rMax = 1}, no causal normalisation).
   */
  public static double[] weights(double[] rawScores) {
    return weights(rawScores, DEFAULT_MIN, DEFAULT_MAX, Normalization.NONE);
  }

  /** Weights with {@code rMax = 1} and no causal normalisation. */
  public static double[] weights(double[] rawScores, double rMin) {
    return weights(rawScores, rMin, DEFAULT_MAX, Normalization.NONE);
  }

  /**
   * Per-token weights with mean 1.
   *
   * @param rawScores attention received by each valid (non-padded) token of one sequence, in order
   * @param rMin smallest mapped score, in {@code (0, rMax]}; keeps every token in the Hessian
   * @param rMax largest mapped score
   * @return weights of the same length; all 1 when every score is equal (where RSQ would divide by
   *     zero)
   */
  public static double[] weights(
      double[] rawScores, double rMin, double rMax, Normalization normalization) {
    double[] r = mapToRange(rawScores, rMin, rMax, normalization);
    double mean = 0;
    for (double v : r) {
      mean += v;
    }
    mean /= r.length;
    for (int t = 0; t < r.length; t++) {
      r[t] /= mean;
    }
    return r;
  }

  /** The min-max mapped scores {@code r ∈ [rMin, rMax]}, before normalising to mean 1. */
  public static double[] mapToRange(
      double[] rawScores, double rMin, double rMax, Normalization normalization) {
    int n = rawScores.length;
    if (n == 0) {
      throw new IllegalArgumentException("no token scores");
    }
    if (!(rMin > 0) || !(rMax >= rMin) || Double.isInfinite(rMax)) {
      throw new IllegalArgumentException(
          "need 0 < rMin <= rMax, got rMin=" + rMin + ", rMax=" + rMax);
    }
    double[] s = new double[n];
    double min = Double.POSITIVE_INFINITY;
    double max = Double.NEGATIVE_INFINITY;
    for (int t = 0; t < n; t++) {
      double v = rawScores[t];
      if (!Double.isFinite(v)) {
        throw new IllegalArgumentException("token score " + t + " is " + v);
      }
      int seenBy = n - t;
      if (normalization == Normalization.LINEAR) {
        v /= seenBy;
      } else if (normalization == Normalization.SQRT) {
        v /= Math.sqrt(seenBy);
      }
      s[t] = v;
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    double[] r = new double[n];
    if (max == min) {
      Arrays.fill(r, rMax);
      return r;
    }
    double span = max - min;
    for (int t = 0; t < n; t++) {
      double v = (s[t] - min) / span * (rMax - rMin) + rMin;
      r[t] = Math.min(rMax, Math.max(rMin, v));
    }
    return r;
  }
}
