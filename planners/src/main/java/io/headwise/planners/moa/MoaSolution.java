package io.headwise.planners.moa;

import io.headwise.planners.SolverStatus;

/**
 * A solved MoA assignment: the rule of every unit (null when none was found), the CP-SAT status,
 * the objective of the assignment and the best proven lower bound (max of CP-SAT's bound and the
 * Lagrangian dual bound; cost units, objective weights applied), the relative gap (objective −
 * bound)/objective, the wall time of the whole solve, the unweighted cost at each length, both
 * bounds separately, and how many (layer, rule) choices survived reduced-cost fixing out of layers
 * × rules.
 */
public record MoaSolution(
    int[] ruleOfUnit,
    SolverStatus status,
    double objective,
    double bestBound,
    double relativeGap,
    double wallSeconds,
    double[] costByLength,
    double cpSatBound,
    double lagrangianBound,
    int layerRuleChoices) {}
