package io.headwise.planners.moa;

/**
 * One MoA elastic rule: a head keeps span α + β·N tokens (attention sinks included) at sequence
 * length N.
 */
public record MoaRule(double alpha, double beta) {
  /** The raw span α + β·N, not clamped to [0, N]. */
  public double span(int n) {
    return alpha + beta * n;
  }
}
