package io.headwise.planners.moa;

import java.util.stream.IntStream;

/**
 * The side constraints of a {@link MoaLagrangian} problem as normalised resources (coefficients
 * a_j[u][r], lower bounds lo_j, upper bounds 1): how much of each an assignment uses, whether it is
 * feasible, and the greedy repair of a relaxed optimum into a feasible assignment.
 */
final class MoaRepair {
  private final MoaProblem p;
  private final double[][] c;
  private final double[][][] a; // [resource][unit][rule]
  private final double[] lo;

  MoaRepair(MoaProblem p, double[][] c, double[][][] a, double[] lo) {
    this.p = p;
    this.c = c;
    this.a = a;
    this.lo = lo;
  }

  boolean feasible(int[] assignment) {
    double[] used = usage(assignment);
    for (int j = 0; j < used.length; j++) {
      if (used[j] > 1 + 1e-12 || used[j] < lo[j] - 1e-12) {
        return false;
      }
    }
    return true;
  }

  double[] usage(int[] assignment) {
    double[] used = new double[a.length];
    for (int j = 0; j < a.length; j++) {
      for (int u = 0; u < assignment.length; u++) {
        used[j] += a[j][u][assignment[u]];
      }
    }
    return used;
  }

  /**
   * Makes {@code x} feasible by greedy moves inside the rules each layer already uses (so the
   * per-layer limit keeps holding), then spends slack on cost decreases; returns false when that
   * cannot meet the bounds.
   */
  boolean repair(int[] x) {
    int resources = a.length;
    boolean[][] allowed = new boolean[p.numLayers()][p.numRules()];
    for (int u = 0; u < x.length; u++) {
      allowed[p.layerOfUnit()[u]][x[u]] = true;
    }
    int[][] options = new int[p.numLayers()][];
    for (int l = 0; l < p.numLayers(); l++) {
      final int layer = l;
      options[l] = IntStream.range(0, p.numRules()).filter(r -> allowed[layer][r]).toArray();
    }
    double[] used = usage(x);
    double slack = 1e-12;
    for (int guard = 0; guard < 4 * x.length; guard++) {
      int phase = 2; // 0: over an upper bound, 1: under a lower bound, 2: feasible
      for (int j = 0; j < resources; j++) {
        if (used[j] > 1 + slack) {
          phase = 0;
          break;
        }
        if (used[j] < lo[j] - slack) {
          phase = 1;
        }
      }
      if (phase == 2) {
        break;
      }
      int bestU = -1;
      int bestR = -1;
      double bestScore = Double.POSITIVE_INFINITY;
      for (int u = 0; u < x.length; u++) {
        int cur = x[u];
        for (int r : options[p.layerOfUnit()[u]]) {
          if (r == cur) {
            continue;
          }
          double gain = 0;
          boolean harmful = false;
          for (int j = 0; j < resources && !harmful; j++) {
            double d = a[j][u][r] - a[j][u][cur];
            if (phase == 0) {
              if (used[j] > 1 + slack) {
                gain -= d;
              } else if (used[j] + d > 1 + slack || d < 0 && used[j] + d < lo[j] - slack) {
                harmful = true;
              }
            } else {
              if (used[j] < lo[j] - slack) {
                gain += d;
              } else if (d < 0 && used[j] + d < lo[j] - slack) {
                harmful = true;
              }
              if (used[j] + d > 1 + slack) {
                harmful = true;
              }
            }
          }
          if (harmful || gain <= 1e-15) {
            continue;
          }
          double score = (c[u][r] - c[u][cur]) / gain;
          if (score < bestScore) {
            bestScore = score;
            bestU = u;
            bestR = r;
          }
        }
      }
      if (bestU < 0) {
        return false;
      }
      for (int j = 0; j < resources; j++) {
        used[j] += a[j][bestU][bestR] - a[j][bestU][x[bestU]];
      }
      x[bestU] = bestR;
    }
    if (!feasible(x)) {
      return false;
    }
    for (int guard = 0; guard < 4 * x.length; guard++) {
      int bestU = -1;
      int bestR = -1;
      double bestScore = 0;
      for (int u = 0; u < x.length; u++) {
        int cur = x[u];
        for (int r : options[p.layerOfUnit()[u]]) {
          double dc = c[u][r] - c[u][cur];
          if (r == cur || dc >= -1e-15) {
            continue;
          }
          boolean fits = true;
          double spend = 0;
          for (int j = 0; j < resources; j++) {
            double d = a[j][u][r] - a[j][u][cur];
            double after = used[j] + d;
            if (after > 1 + slack || after < lo[j] - slack) {
              fits = false;
              break;
            }
            spend += Math.max(0, d);
          }
          if (!fits) {
            continue;
          }
          double score = -dc / Math.max(1e-12, spend);
          if (score > bestScore) {
            bestScore = score;
            bestU = u;
            bestR = r;
          }
        }
      }
      if (bestU < 0) {
        break;
      }
      for (int j = 0; j < resources; j++) {
        used[j] += a[j][bestU][bestR] - a[j][bestU][x[bestU]];
      }
      x[bestU] = bestR;
    }
    return true;
  }
}
