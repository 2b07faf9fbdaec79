package io.headwise.planners.moa;

import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

/**
 * MoA's rule-assignment problem as a multiple-choice knapsack: every unit (a head) picks one rule;
 * at each length n the total kept tokens Σ_u kept[rule(u)][n] must lie in [lowerTokens[n],
 * upperTokens[n]]; each layer may use at most {@code maxRulesPerLayer} distinct rules; the cost of
 * unit u under rule r at length n is cost[u][r][n].
 */
public record MoaProblem(
    int numLayers,
    int[] layerOfUnit,
    int[] lengths,
    double[][] keptTokens,
    double[][][] cost,
    double[] lowerTokens,
    double[] upperTokens,
    int maxRulesPerLayer) {

  public MoaProblem {
    int units = layerOfUnit.length;
    int rules = keptTokens.length;
    if (cost.length != units) {
      throw new IllegalArgumentException("cost has " + cost.length + " units, layers say " + units);
    }
    for (double[][] c : cost) {
      if (c.length != rules || c[0].length != lengths.length) {
        throw new IllegalArgumentException("cost must be [units][rules][lengths]");
      }
    }
    for (double[] k : keptTokens) {
      if (k.length != lengths.length) {
        throw new IllegalArgumentException("keptTokens must be [rules][lengths]");
      }
    }
    if (lowerTokens.length != lengths.length || upperTokens.length != lengths.length) {
      throw new IllegalArgumentException("bounds must have one entry per length");
    }
    for (int u : layerOfUnit) {
      if (u < 0 || u >= numLayers) {
        throw new IllegalArgumentException("layer " + u + " outside 0.." + (numLayers - 1));
      }
    }
    if (maxRulesPerLayer < 1) {
      throw new IllegalArgumentException("maxRulesPerLayer must be at least 1");
    }
  }

  public int numUnits() {
    return layerOfUnit.length;
  }

  public int numRules() {
    return keptTokens.length;
  }

  public int numLengths() {
    return lengths.length;
  }

  /** Σ_u cost[u][rule(u)][n] for each length n. */
  public double[] costByLength(int[] ruleOfUnit) {
    double[] out = new double[lengths.length];
    for (int u = 0; u < ruleOfUnit.length; u++) {
      for (int n = 0; n < lengths.length; n++) {
        out[n] += cost[u][ruleOfUnit[u]][n];
      }
    }
    return out;
  }

  /**
   * True when the assignment meets the token bounds (to {@code tolerance} tokens) and the per-layer
   * rule limit.
   */
  public boolean isFeasible(int[] ruleOfUnit, double tolerance) {
    for (int n = 0; n < lengths.length; n++) {
      double kept = 0;
      for (int r : ruleOfUnit) {
        kept += keptTokens[r][n];
      }
      if (kept < lowerTokens[n] - tolerance || kept > upperTokens[n] + tolerance) {
        return false;
      }
    }
    Map<Integer, Set<Integer>> rulesOfLayer = new HashMap<>();
    for (int u = 0; u < ruleOfUnit.length; u++) {
      rulesOfLayer.computeIfAbsent(layerOfUnit[u], k -> new HashSet<>()).add(ruleOfUnit[u]);
    }
    return rulesOfLayer.values().stream().allMatch(s -> s.size() <= maxRulesPerLayer);
  }
}
