package io.headwise.planners.moa;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.headwise.planners.SolverStatus;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class MoaSolverTest {
  private static final MoaSolver.Settings EXACT = new MoaSolver.Settings(30, 0.0, 2, 0);

  @Test
  void ruleGridReproducesMoasFortyEightRules() {
    List<Double> betas = List.of(0.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0);
    List<MoaRule> rules = MoaRuleGrid.build(2048, 8192, 16384, 1024, betas);
    assertEquals(48, rules.size());
    assertEquals(-1024.0, rules.stream().mapToDouble(MoaRule::alpha).min().orElseThrow(), 0);
    assertEquals(8192.0, rules.stream().mapToDouble(MoaRule::alpha).max().orElseThrow(), 0);
    for (MoaRule r : rules) {
      assertTrue(r.span(2048) > 0 && r.span(8192) <= 8192 && r.span(16384) <= 16384, r.toString());
    }
  }

  /**
   * Random 2 layers x 3 heads x R rules x 2 lengths instances: CP-SAT must match exhaustive search.
   */
  @Test
  void cpSatMatchesBruteForceOnSmallInstances() {
    int checked = 0;
    for (int seed = 0; seed < 12; seed++) {
      Random random = new Random(seed);
      int rules = 3 + seed % 3;
      int[] lengths = {1000, 4000};
      double[][] kept = new double[rules][2];
      for (int r = 0; r < rules; r++) {
        double alpha = 50 + random.nextInt(600);
        double beta = random.nextInt(5) / 8.0;
        for (int n = 0; n < 2; n++) {
          kept[r][n] = Math.min(lengths[n], alpha + beta * lengths[n]);
        }
      }
      int units = 6;
      int[] layer = {0, 0, 0, 1, 1, 1};
      double[][][] cost = new double[units][rules][2];
      for (int u = 0; u < units; u++) {
        for (int r = 0; r < rules; r++) {
          for (int n = 0; n < 2; n++) {
            cost[u][r][n] = random.nextDouble() * (1 - kept[r][n] / lengths[n]);
          }
        }
      }
      // budgets around the mean rule, so most instances are feasible but binding
      double[] upper = new double[2];
      double[] lower = new double[2];
      for (int n = 0; n < 2; n++) {
        double mean = 0;
        for (double[] k : kept) {
          mean += k[n] / rules;
        }
        upper[n] = (0.8 + 0.3 * random.nextDouble()) * mean * units;
        lower[n] = 0.7 * upper[n];
      }
      int maxRules = 1 + seed % 2;
      MoaProblem p = new MoaProblem(2, layer, lengths, kept, cost, lower, upper, maxRules);
      double[] weights = {1, 1};
      double brute = bruteForce(p, weights);
      MoaSolution s = MoaSolver.solve(p, weights, null, EXACT, null);
      if (Double.isInfinite(brute)) {
        assertNull(
            s.ruleOfUnit(), "seed " + seed + " is infeasible but CP-SAT returned " + s.status());
        continue;
      }
      assertNotNull(s.ruleOfUnit(), "seed " + seed + ": " + s.status());
      assertTrue(p.isFeasible(s.ruleOfUnit(), 1e-9), "seed " + seed);
      assertEquals(brute, s.objective(), 1e-5 * Math.max(1, brute), "seed " + seed);
      assertTrue(s.bestBound() <= s.objective() + 1e-9);
      checked++;
    }
    assertTrue(checked >= 6, "only " + checked + " feasible instances");
  }

  @Test
  void epsilonCapsAreRespected() {
    int[] lengths = {100, 200};
    double[][] kept = {{20, 40}, {60, 120}, {100, 200}};
    double[][][] cost = new double[4][3][2];
    for (int u = 0; u < 4; u++) {
      cost[u] = new double[][] {{1.0, 0.2}, {0.4, 0.6}, {0.0, 0.0}};
    }
    MoaProblem p =
        new MoaProblem(
            1,
            new int[] {0, 0, 0, 0},
            lengths,
            kept,
            cost,
            new double[] {0, 0},
            new double[] {0.6 * 400, 0.6 * 800},
            3);
    MoaSolution free = MoaSolver.solve(p, new double[] {1, 0}, null, EXACT, null);
    MoaSolution capped =
        MoaSolver.solve(
            p, new double[] {1, 0}, new double[] {Double.POSITIVE_INFINITY, 1.5}, EXACT, null);
    assertTrue(capped.costByLength()[1] <= 1.5 + 1e-9, "cap broken: " + capped.costByLength()[1]);
    assertTrue(capped.objective() >= free.objective() - 1e-9);
    assertEquals(bruteForce(p, new double[] {1, 0}), free.objective(), 1e-6);
  }

  @Test
  void reportsInfeasibility() {
    int[] lengths = {100};
    double[][] kept = {{80}, {90}};
    double[][][] cost = {{{0.1}, {0.0}}, {{0.1}, {0.0}}};
    MoaProblem p =
        new MoaProblem(
            1, new int[] {0, 0}, lengths, kept, cost, new double[] {0}, new double[] {100}, 2);
    MoaSolution s = MoaSolver.solve(p, new double[] {1}, null, EXACT, null);
    assertNull(s.ruleOfUnit());
    assertEquals(SolverStatus.INFEASIBLE, s.status());
  }

  private static double bruteForce(MoaProblem p, double[] weights) {
    int units = p.numUnits();
    int rules = p.numRules();
    int[] a = new int[units];
    double best = Double.POSITIVE_INFINITY;
    long combos = (long) Math.pow(rules, units);
    for (long code = 0; code < combos; code++) {
      long rest = code;
      for (int u = 0; u < units; u++) {
        a[u] = (int) (rest % rules);
        rest /= rules;
      }
      if (!p.isFeasible(a, 1e-9)) {
        continue;
      }
      double[] byLength = p.costByLength(a);
      double v = 0;
      for (int n = 0; n < byLength.length; n++) {
        v += weights[n] * byLength[n];
      }
      best = Math.min(best, v);
    }
    return best;
  }
}
