package io.headwise.planners;

import java.util.List;

/**
 * Sizes one fixed token count k kept by every compressed head so that a plan whose full heads make
 * up {@code fullShare} of its heads keeps fraction fullShare + (1 − fullShare)·min(N, k)/N close to
 * the target F at every target length N.
 */
final class SpanSizing {
  /** The chosen k and whether it puts every target length inside [F − 0.1, F + 0.02]. */
  record Result(int kept, boolean withinTolerance) {}

  private SpanSizing() {}

  static double fraction(double fullShare, int kept, int n) {
    return fullShare + (1.0 - fullShare) * Math.min(n, kept) / (double) n;
  }

  /**
   * Among k in [minKept, max N], the k inside the tolerance at every length with the least squared
   * error Σ_N (fraction_N − F)²; when none is inside, the k with the least worst violation.
   */
  static Result fixedKept(List<Integer> lengths, double target, double fullShare, int minKept) {
    int maxN = lengths.stream().mapToInt(Integer::intValue).max().orElseThrow();
    int bestFeasible = -1;
    double bestError = Double.POSITIVE_INFINITY;
    int bestInfeasible = Math.max(1, minKept);
    double bestViolation = Double.POSITIVE_INFINITY;
    for (int k = Math.max(1, minKept); k <= Math.max(maxN, minKept); k++) {
      double error = 0;
      double violation = 0;
      for (int n : lengths) {
        double f = fraction(fullShare, k, n);
        error += (f - target) * (f - target);
        violation =
            Math.max(
                violation,
                Math.max(
                    target - KvFraction.BELOW_TARGET_TOLERANCE - f,
                    f - target - KvFraction.ABOVE_TARGET_TOLERANCE));
      }
      if (violation <= 1e-12 && error < bestError) {
        bestError = error;
        bestFeasible = k;
      }
      if (violation < bestViolation) {
        bestViolation = violation;
        bestInfeasible = k;
      }
    }
    return bestFeasible > 0 ? new Result(bestFeasible, true) : new Result(bestInfeasible, false);
  }
}
