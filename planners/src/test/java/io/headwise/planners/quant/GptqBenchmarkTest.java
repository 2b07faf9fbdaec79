package io.headwise.planners.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.headwise.planners.quant.bench.GptqBenchmark;
import org.junit.jupiter.api.Test;

/** Smoke test of the benchmark harness on a small layer (no timing assertions). */
class GptqBenchmarkTest {

  @Test
  void runsOnASmallLayer() {
    GptqBenchmark.Result r = GptqBenchmark.run(256, 64, 1);
    assertEquals(256, r.k());
    assertEquals(64, r.n());
    assertTrue(r.loss() > 0 && Double.isFinite(r.loss()));
    assertEquals(1, r.dampAttempts());
    assertTrue(r.toString().contains("GPTQ 64x256"));
  }
}
