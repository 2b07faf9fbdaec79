package io.headwise.planners.moa;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Lagrangian relaxation of a {@link MoaProblem} (optionally with per-length cost caps), used to
 * warm-start and to shrink the exact CP-SAT model.
 *
 * <p>Every side constraint is a "resource" j with a coefficient a_j[u][r] and bounds [lo_j, hi_j],
 * normalised so hi_j = 1: the kept tokens at each length (lo = lower/upper) and, when capped, the
 * cost at a length (a = cost/ε, lo = −∞). Resource j is dualised with one multiplier μ_j (free for
 * a two-sided bound, ≥ 0 for a cap). For fixed μ the problem splits by layer: the layer takes its
 * best set of at most m rules (all pairs enumerated when m ≤ 2 — exact; greedy beyond) and each
 * head its cheapest rule of that set. Projected subgradient steps (Polyak step towards the best
 * feasible objective, step factor halved after 10 non-improving iterations) maximise the dual.
 * Every relaxed optimum is repaired greedily inside its layers' rule sets (shed resource where a
 * bound is exceeded at the least cost per unit, add where a lower bound is missed, then spend slack
 * on the best cost decrease per unit); the best feasible one is kept. The start is the cheapest
 * single rule shared by all heads that meets the token bounds, when there is one.
 *
 * <p>{@link #allowedRules} is Lagrangian reduced-cost fixing: rule r can be dropped from layer l
 * when even the cheapest rule set of that layer containing r, priced at the best multipliers, lifts
 * the dual bound above the incumbent objective — no assignment at least as good as the incumbent
 * uses it there.
 *
 * <p>The resources' usage, feasibility and the greedy repair are {@link MoaRepair}.
 */
final class MoaLagrangian {
  /**
   * Best feasible assignment (null if none), its objective, the dual bound and whether that bound
   * is proven.
   */
  record Result(
      int[] assignment,
      double objective,
      double lowerBound,
      boolean boundIsValid,
      int iterations,
      double[] multipliers,
      boolean[][] coreRules) {}

  /**
   * Relaxed optima within this relative distance of the best dual value feed the core rule sets.
   */
  static final double CORE_DISTANCE = 0.01;

  private final MoaProblem p;
  private final double[][] c;
  private final double[][][] a; // [resource][unit][rule]
  private final double[] lo;
  private final boolean[] twoSided;
  private final int[][] members;
  private final boolean exact;
  private final MoaRepair repair;

  MoaLagrangian(MoaProblem p, double[] weights, double[] costUpper) {
    this.p = p;
    this.c = weightedCosts(p, weights);
    int lengths = p.numLengths();
    int caps = 0;
    if (costUpper != null) {
      for (double e : costUpper) {
        caps += Double.isFinite(e) ? 1 : 0;
      }
    }
    a = new double[lengths + caps][p.numUnits()][p.numRules()];
    lo = new double[lengths + caps];
    twoSided = new boolean[lengths + caps];
    for (int n = 0; n < lengths; n++) {
      for (int u = 0; u < p.numUnits(); u++) {
        for (int r = 0; r < p.numRules(); r++) {
          a[n][u][r] = p.keptTokens()[r][n] / p.upperTokens()[n];
        }
      }
      lo[n] = p.lowerTokens()[n] / p.upperTokens()[n];
      twoSided[n] = true;
    }
    int j = lengths;
    for (int n = 0; costUpper != null && n < lengths; n++) {
      if (!Double.isFinite(costUpper[n])) {
        continue;
      }
      double eps = Math.max(costUpper[n], 1e-12);
      for (int u = 0; u < p.numUnits(); u++) {
        for (int r = 0; r < p.numRules(); r++) {
          a[j][u][r] = p.cost()[u][r][n] / eps;
        }
      }
      lo[j] = Double.NEGATIVE_INFINITY;
      j++;
    }
    members = membersByLayer(p);
    exact = p.maxRulesPerLayer() <= 2 || p.maxRulesPerLayer() >= p.numRules();
    repair = new MoaRepair(p, c, a, lo);
  }

  static double[][] weightedCosts(MoaProblem p, double[] weights) {
    double[][] out = new double[p.numUnits()][p.numRules()];
    for (int u = 0; u < p.numUnits(); u++) {
      for (int r = 0; r < p.numRules(); r++) {
        double v = 0;
        for (int n = 0; n < p.numLengths(); n++) {
          v += weights[n] * p.cost()[u][r][n];
        }
        out[u][r] = v;
      }
    }
    return out;
  }

  Result solve(int maxIterations) {
    int resources = a.length;
    int[] best = null;
    double bestObjective = Double.POSITIVE_INFINITY;
    for (int r = 0; r < p.numRules(); r++) {
      int[] uniform = new int[p.numUnits()];
      Arrays.fill(uniform, r);
      if (repair.feasible(uniform)) {
        double objective = objective(uniform);
        if (objective < bestObjective) {
          bestObjective = objective;
          best = uniform;
        }
      }
    }
    double maxC = 0;
    for (double[] row : c) {
      for (double v : row) {
        maxC = Math.max(maxC, v);
      }
    }
    double[] mu = new double[resources];
    double[] bestMu = mu.clone();
    double bestBound = Double.NEGATIVE_INFINITY;
    double theta = 1.0;
    int sinceImproved = 0;
    int iteration = 0;
    int[] assignment = new int[p.numUnits()];
    List<int[]> nearOptimal = new ArrayList<>();
    List<Double> nearOptimalDual = new ArrayList<>();
    for (; iteration < maxIterations; iteration++) {
      double dual = relaxed(mu, assignment, null);
      double[] used = repair.usage(assignment);
      double[] g = new double[resources];
      for (int j = 0; j < resources; j++) {
        dual -= mu[j] >= 0 ? mu[j] : mu[j] * lo[j];
        if (used[j] > 1 || mu[j] > 0 && used[j] >= lo[j]) {
          g[j] = used[j] - 1;
        } else if (used[j] < lo[j] || mu[j] < 0) {
          g[j] = used[j] - lo[j];
        }
      }
      if (bestBound == Double.NEGATIVE_INFINITY
          || dual > bestBound + 1e-9 * Math.max(1.0, Math.abs(bestBound))) {
        sinceImproved = 0;
      } else if (++sinceImproved >= 10) {
        theta /= 2;
        sinceImproved = 0;
      }
      if (dual > bestBound) {
        bestBound = dual;
        bestMu = mu.clone();
      }
      if (dual >= bestBound - CORE_DISTANCE * Math.abs(bestBound)) {
        nearOptimal.add(assignment.clone());
        nearOptimalDual.add(dual);
      }
      int[] repaired = assignment.clone();
      if (repair.repair(repaired)) {
        double objective = objective(repaired);
        if (objective < bestObjective) {
          bestObjective = objective;
          best = repaired;
        }
      }
      double norm = 0;
      for (double v : g) {
        norm += v * v;
      }
      if (norm < 1e-18 || theta < 1e-6) {
        break;
      }
      if (exact
          && Double.isFinite(bestObjective)
          && bestObjective - bestBound <= 1e-7 * Math.max(1e-12, Math.abs(bestObjective))) {
        break;
      }
      double target =
          Double.isFinite(bestObjective)
              ? bestObjective
              : dual + 0.05 * Math.max(1e-12, maxC) * p.numUnits();
      double step = theta * Math.max(target - dual, 1e-9 * Math.max(maxC, 1e-12)) / norm;
      for (int j = 0; j < resources; j++) {
        mu[j] += step * g[j];
        if (!twoSided[j]) {
          mu[j] = Math.max(0, mu[j]);
        }
      }
    }
    boolean[][] core = new boolean[p.numLayers()][p.numRules()];
    for (int i = 0; i < nearOptimal.size(); i++) {
      if (nearOptimalDual.get(i) >= bestBound - CORE_DISTANCE * Math.abs(bestBound)) {
        int[] x = nearOptimal.get(i);
        for (int u = 0; u < x.length; u++) {
          core[p.layerOfUnit()[u]][x[u]] = true;
        }
      }
    }
    if (best != null) {
      for (int u = 0; u < best.length; u++) {
        core[p.layerOfUnit()[u]][best[u]] = true;
      }
    }
    return new Result(best, bestObjective, bestBound, exact, iteration, bestMu, core);
  }

  /**
   * Per layer, the rules that may appear in an assignment whose objective is at most {@code
   * upperBound}, by reduced-cost fixing at multipliers {@code mu} with dual value {@code
   * lowerBound}. Only valid when the layer subproblem is exact (m ≤ 2 or m ≥ rules).
   */
  boolean[][] allowedRules(double[] mu, double lowerBound, double upperBound) {
    int rules = p.numRules();
    double[][] bestWith = new double[p.numLayers()][rules];
    double[] layerMin = new double[p.numLayers()];
    relaxed(mu, new int[p.numUnits()], new double[][][] {bestWith, {layerMin}});
    double slack = upperBound - lowerBound + 1e-9 * Math.max(1.0, Math.abs(upperBound));
    boolean[][] allowed = new boolean[p.numLayers()][rules];
    for (int l = 0; l < p.numLayers(); l++) {
      for (int r = 0; r < rules; r++) {
        allowed[l][r] = members[l].length > 0 && bestWith[l][r] - layerMin[l] <= slack;
      }
    }
    return allowed;
  }

  double objective(int[] assignment) {
    double v = 0;
    for (int u = 0; u < assignment.length; u++) {
      v += c[u][assignment[u]];
    }
    return v;
  }

  private static int[][] membersByLayer(MoaProblem p) {
    int[] count = new int[p.numLayers()];
    for (int l : p.layerOfUnit()) {
      count[l]++;
    }
    int[][] out = new int[p.numLayers()][];
    for (int l = 0; l < p.numLayers(); l++) {
      out[l] = new int[count[l]];
      count[l] = 0;
    }
    for (int u = 0; u < p.numUnits(); u++) {
      int l = p.layerOfUnit()[u];
      out[l][count[l]++] = u;
    }
    return out;
  }

  /**
   * Solves the relaxed problem at μ into {@code out} and returns Σ of the priced costs. When {@code
   * fixing} is given, fills fixing[0][l][r] with the best priced value of layer l over rule sets
   * containing r and fixing[1][0][l] with the layer's best value.
   */
  private double relaxed(double[] mu, int[] out, double[][][] fixing) {
    int rules = p.numRules();
    int m = Math.min(p.maxRulesPerLayer(), rules);
    double total = 0;
    for (int l = 0; l < members.length; l++) {
      int[] layer = members[l];
      if (layer.length == 0) {
        continue;
      }
      double[][] pcT = new double[rules][layer.length];
      for (int i = 0; i < layer.length; i++) {
        int u = layer[i];
        for (int r = 0; r < rules; r++) {
          double v = c[u][r];
          for (int j = 0; j < a.length; j++) {
            v += mu[j] * a[j][u][r];
          }
          pcT[r][i] = v;
        }
      }
      boolean[] chosen = new boolean[rules];
      if (m >= rules) {
        Arrays.fill(chosen, true);
        if (fixing != null) {
          double layerValue = 0;
          for (int i = 0; i < layer.length; i++) {
            double min = Double.POSITIVE_INFINITY;
            for (int r = 0; r < rules; r++) {
              min = Math.min(min, pcT[r][i]);
            }
            layerValue += min;
          }
          Arrays.fill(fixing[0][l], layerValue);
          fixing[1][0][l] = layerValue;
        }
      } else {
        double[] bestWith = new double[rules];
        Arrays.fill(bestWith, Double.POSITIVE_INFINITY);
        double bestValue = Double.POSITIVE_INFINITY;
        int bestA = 0;
        int bestB = 0;
        for (int x = 0; x < rules; x++) {
          double[] cx = pcT[x];
          double single = 0;
          for (double v : cx) {
            single += v;
          }
          bestWith[x] = Math.min(bestWith[x], single);
          if (single < bestValue) {
            bestValue = single;
            bestA = x;
            bestB = x;
          }
          if (m == 1) {
            continue;
          }
          for (int y = x + 1; y < rules; y++) {
            double[] cy = pcT[y];
            double v = 0;
            for (int i = 0; i < cx.length; i++) {
              v += Math.min(cx[i], cy[i]);
            }
            bestWith[x] = Math.min(bestWith[x], v);
            bestWith[y] = Math.min(bestWith[y], v);
            if (v < bestValue) {
              bestValue = v;
              bestA = x;
              bestB = y;
            }
          }
        }
        if (fixing != null) {
          fixing[0][l] = bestWith;
          fixing[1][0][l] = bestValue;
        }
        chosen[bestA] = true;
        chosen[bestB] = true;
        for (int added = 2; added < m; added++) {
          int bestR = -1;
          double bestV = setValue(pcT, chosen, layer.length);
          for (int r = 0; r < rules; r++) {
            if (!chosen[r]) {
              chosen[r] = true;
              double v = setValue(pcT, chosen, layer.length);
              chosen[r] = false;
              if (v < bestV - 1e-15) {
                bestV = v;
                bestR = r;
              }
            }
          }
          if (bestR < 0) {
            break;
          }
          chosen[bestR] = true;
        }
      }
      for (int i = 0; i < layer.length; i++) {
        int bestR = -1;
        for (int r = 0; r < rules; r++) {
          if (chosen[r] && (bestR < 0 || pcT[r][i] < pcT[bestR][i])) {
            bestR = r;
          }
        }
        out[layer[i]] = bestR;
        total += pcT[bestR][i];
      }
    }
    return total;
  }

  private static double setValue(double[][] pcT, boolean[] chosen, int size) {
    double v = 0;
    for (int i = 0; i < size; i++) {
      double m = Double.POSITIVE_INFINITY;
      for (int r = 0; r < pcT.length; r++) {
        if (chosen[r]) {
          m = Math.min(m, pcT[r][i]);
        }
      }
      v += m;
    }
    return v;
  }
}
