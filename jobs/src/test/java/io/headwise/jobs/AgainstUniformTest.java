package io.headwise.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.headwise.profilers.eval.OutputComparison.Metrics;
import io.headwise.schemas.Tables;
import org.junit.jupiter.api.Test;

/** What an evaluation row's {@code against_uniform} says for a plan and its uniform baseline. */
class AgainstUniformTest {
  private static Metrics decoder(double kl, Double repeat) {
    return new Metrics(4, 100, kl, 0.9, 1.0, 1.0 + kl, repeat, 0.8, null, null, null);
  }

  @Test
  void namesEveryMetricThatMeasuredWorseAndOnlyThose() {
    assertEquals(
        "worse: KL 1.3483 > 1.3239",
        EvaluateJob.againstUniform(decoder(1.3483, null), decoder(1.3239, null)));
    assertEquals(
        "worse: KL 3.3858 > 3.1966, repeat accuracy 0.158 < 0.159",
        EvaluateJob.againstUniform(decoder(3.3858, 0.158), decoder(3.1966, 0.159)));
    assertEquals(
        Tables.NOT_WORSE, EvaluateJob.againstUniform(decoder(1.2769, 0.5), decoder(1.3239, 0.4)));
    // equal measurements are not worse: a plan that falls back to the uniform rule is its baseline
    assertEquals(
        Tables.NOT_WORSE, EvaluateJob.againstUniform(decoder(1.3239, null), decoder(1.3239, null)));
  }

  @Test
  void withoutABaselineNothingIsCompared() {
    assertEquals(Tables.NOT_COMPARED, EvaluateJob.againstUniform(decoder(1.0, null), null));
  }

  @Test
  void encodersCompareCosine() {
    Metrics plan = new Metrics(4, 100, null, null, null, null, null, null, null, null, 0.96880);
    Metrics uniform = new Metrics(4, 100, null, null, null, null, null, null, null, null, 0.97105);
    assertEquals("worse: cosine 0.96880 < 0.97105", EvaluateJob.againstUniform(plan, uniform));
  }
}
