package io.headwise.report;

import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/** How the report names evaluated methods and modes, and which evaluation rows it plots. */
final class EvaluationLabels {
  /** What an h2o number of the prefill simulation is. */
  static final String H2O_SIMULATED = "simulated per query, not H2O's eviction";

  private EvaluationLabels() {}

  /**
   * A method as an evaluation names it: EMS is experimental, and H2O's prefill evaluation simulates
   * its policy per query (evicted tokens may return), which is not H2O's own eviction cache and has
   * measured both better and worse than it (docs/results.md); through the decode graph H2O runs its
   * real eviction.
   */
  static String evaluatedMethod(EvaluationRecord e) {
    return "h2o".equals(e.method()) && !e.decoded()
        ? "h2o (" + H2O_SIMULATED + ")"
        : "ems".equals(e.method()) ? "ems (experimental)" : e.method();
  }

  /** How an evaluation ran, as the report labels it. */
  static String modeLabel(EvaluationRecord e) {
    return e.decoded() ? "decode graph" : "prefill simulation";
  }

  /**
   * The rows a fidelity chart plots: a plan measured through its decode graph is plotted with that
   * measurement only (for H2O the prefill simulation is not H2O's own eviction, for static plans
   * the two are equal), so the prefill-simulation rows of the same plan id are left out.
   */
  static List<EvaluationRecord> headlineRows(List<EvaluationRecord> rows) {
    Set<String> decoded = new LinkedHashSet<>();
    rows.stream().filter(EvaluationRecord::decoded).forEach(r -> decoded.add(r.planId()));
    return rows.stream().filter(r -> r.decoded() || !decoded.contains(r.planId())).toList();
  }
}
