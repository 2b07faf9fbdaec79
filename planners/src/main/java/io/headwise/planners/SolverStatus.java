package io.headwise.planners;

import com.google.ortools.sat.CpSolverStatus;

/**
 * How a plan solver finished (CP-SAT's statuses, by the same names, which are what plan params and
 * logs record).
 */
public enum SolverStatus {
  /** Proven optimal (within the relative gap limit when one is set). */
  OPTIMAL,
  /** A feasible assignment, not proven optimal (time limit, or the greedy incumbent). */
  FEASIBLE,
  /** Proven to have no feasible assignment. */
  INFEASIBLE,
  /** The model given to the solver was invalid. */
  MODEL_INVALID,
  /** Stopped before finding an assignment or a proof. */
  UNKNOWN;

  /** The status of a CP-SAT solve ({@link #UNKNOWN} for values this version does not know). */
  public static SolverStatus of(CpSolverStatus s) {
    return switch (s) {
      case OPTIMAL -> OPTIMAL;
      case FEASIBLE -> FEASIBLE;
      case INFEASIBLE -> INFEASIBLE;
      case MODEL_INVALID -> MODEL_INVALID;
      default -> UNKNOWN;
    };
  }
}
