package io.headwise.planners;

import io.headwise.schemas.PlanRow;
import java.util.List;
import java.util.Map;

/**
 * An alternative plan found on the way (MoA's Pareto candidates): its rows, its objective value at
 * each target length, its expected KV fraction at each length, and how the solver finished.
 */
public record PlanCandidate(
    String candidateId,
    List<PlanRow> rows,
    Map<Integer, Double> objectiveByLength,
    Map<Integer, Double> expectedKvFraction,
    SolverStatus solverStatus) {

  public PlanCandidate {
    rows = List.copyOf(rows);
    objectiveByLength = Map.copyOf(objectiveByLength);
    expectedKvFraction = Map.copyOf(expectedKvFraction);
  }
}
