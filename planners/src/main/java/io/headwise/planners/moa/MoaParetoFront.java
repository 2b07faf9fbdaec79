package io.headwise.planners.moa;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** MoA's Pareto front over the target lengths, found by ε-constraint solves of one problem. */
public final class MoaParetoFront {
  private MoaParetoFront() {}

  /** MoA's ε-constraint search; returns the non-dominated solutions, the main one included. */
  public static List<MoaSolution> search(
      MoaProblem problem, MoaSolution main, int bins, MoaSolver.Settings settings) {
    int k = problem.numLengths();
    List<MoaSolution> found = new ArrayList<>();
    found.add(main);
    MoaSolution[] single = new MoaSolution[k];
    for (int i = 0; i < k; i++) {
      single[i] = MoaSolver.solve(problem, primaryWeights(k, i), null, settings, main.ruleOfUnit());
      if (single[i].ruleOfUnit() != null) {
        found.add(single[i]);
      }
    }
    double[] lo = new double[k];
    double[] hi = new double[k];
    for (int j = 0; j < k; j++) {
      lo[j] = Double.POSITIVE_INFINITY;
      hi[j] = Double.NEGATIVE_INFINITY;
      for (MoaSolution s : found) {
        lo[j] = Math.min(lo[j], s.costByLength()[j]);
        hi[j] = Math.max(hi[j], s.costByLength()[j]);
      }
    }
    int combos = (int) Math.pow(bins, k - 1);
    for (int i = 0; i < k; i++) {
      for (int combo = 0; combo < combos; combo++) {
        double[] eps = new double[k];
        int rest = combo;
        for (int j = 0; j < k; j++) {
          if (j == i) {
            eps[j] = Double.POSITIVE_INFINITY;
            continue;
          }
          int bin = rest % bins;
          rest /= bins;
          eps[j] = lo[j] + (bin + 1.0) / bins * (hi[j] - lo[j]);
        }
        MoaSolution s =
            MoaSolver.solve(problem, primaryWeights(k, i), eps, settings, main.ruleOfUnit());
        if (s.ruleOfUnit() != null) {
          found.add(s);
        }
      }
    }
    List<MoaSolution> front = new ArrayList<>();
    for (MoaSolution s : found) {
      boolean dominated = false;
      for (MoaSolution t : found) {
        if (t != s && dominates(t.costByLength(), s.costByLength())) {
          dominated = true;
          break;
        }
      }
      boolean duplicate =
          front.stream()
              .anyMatch(
                  t ->
                      Arrays.equals(t.ruleOfUnit(), s.ruleOfUnit())
                          || Arrays.equals(t.costByLength(), s.costByLength()));
      if (!dominated && !duplicate) {
        front.add(s);
      }
    }
    front.sort(
        (a, b) ->
            Double.compare(
                Arrays.stream(a.costByLength()).sum(), Arrays.stream(b.costByLength()).sum()));
    return front;
  }

  /**
   * Weight 1 on the primary length and 1e-3 on the others, so ties go to the solution better
   * elsewhere.
   */
  private static double[] primaryWeights(int k, int primary) {
    double[] w = new double[k];
    Arrays.fill(w, 1e-3);
    w[primary] = 1.0;
    return w;
  }

  private static boolean dominates(double[] a, double[] b) {
    boolean strictly = false;
    for (int i = 0; i < a.length; i++) {
      if (a[i] > b[i] + 1e-12) {
        return false;
      }
      strictly |= a[i] < b[i] - 1e-12;
    }
    return strictly;
  }
}
