package io.headwise.planners.moa;

import java.util.ArrayList;
import java.util.List;

/**
 * MoA's candidate rules: α on an evenly spaced grid from −N_min to N_prof (MoA: linspace(−N_min,
 * N_prof, (N_prof + N_min)/step + 1), step 1024), β from a list (MoA: 0, 0.125, …, 1), kept only
 * when α + β·N_prof ≤ N_prof, α + β·N_max ≤ N_max and α + β·N_min > 0. With N_min 2048, N_prof
 * 8192, N_max 16384 and step 1024 this gives MoA's 48 rules.
 */
public final class MoaRuleGrid {
  private MoaRuleGrid() {}

  /** The filtered rules ordered by β, then α. */
  public static List<MoaRule> build(
      int minLength, int profileLength, int maxLength, double alphaStep, List<Double> betas) {
    if (alphaStep <= 0) {
      throw new IllegalArgumentException("alpha step must be positive: " + alphaStep);
    }
    int intervals = (int) Math.max(1, Math.round((profileLength + minLength) / alphaStep));
    List<MoaRule> rules = new ArrayList<>();
    List<Double> sortedBetas = betas.stream().distinct().sorted().toList();
    for (double beta : sortedBetas) {
      for (int k = 0; k <= intervals; k++) {
        double alpha = -minLength + (double) k * (profileLength + minLength) / intervals;
        MoaRule r = new MoaRule(alpha, beta);
        if (r.span(profileLength) <= profileLength + 1e-9
            && r.span(maxLength) <= maxLength + 1e-9
            && r.span(minLength) > 1e-9) {
          rules.add(r);
        }
      }
    }
    return rules;
  }
}
