package io.headwise.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** The line evaluate prints names what it measured. */
class EvaluateLabelTest {
  @Test
  void anH2oNumberIsLabelledAsTheSimulationAndABaselineAsTheBaseline() {
    assertEquals(
        "p (h2o simulated per query, not H2O's own eviction; --decode measures H2O's own cache)",
        EvaluateJob.label("p", "h2o", false, false));
    assertEquals(
        "p-uniform (uniform baseline)",
        EvaluateJob.label("p-uniform", "streamingllm", true, false));
    assertEquals("q", EvaluateJob.label("q", "moa", false, false));
    // through the decode graph H2O runs its own eviction: no simulation label
    assertEquals("p (mode decode)", EvaluateJob.label("p", "h2o", false, true));
  }
}
