package io.headwise.profilers.quant;

import io.headwise.schemas.HeadwiseException;
import java.io.Serializable;

/**
 * How the in-graph Hessian capture weights tokens.
 *
 * @param weighting {@link Weighting#UNIFORM} (plain GPTQ, {@code r ≡ 1}) or {@link
 *     Weighting#ATTENTION_CONCENTRATION} (RSQ)
 * @param rMin lower end of RSQ's min-max range {@code [rMin, 1]} (RSQ's scripts: 0.005)
 * @param exposeInputs also expose each group's flattened input and each layer's token weights
 *     (tests only: they are {@code [B·T, K]} and {@code [B, T]} per batch)
 */
public record CaptureConfig(Weighting weighting, double rMin, boolean exposeInputs)
    implements Serializable {

  /** RSQ's shipped {@code --min_value}. */
  public static final double DEFAULT_R_MIN = 0.005;

  /** Per-token weights of the Hessian. */
  public enum Weighting {
    /** Every valid token weighs 1 (GPTQ). */
    UNIFORM,
    /**
     * RSQ: the attention token t receives in the linear's block, {@code s_t = Σ_h Σ_i P[h, i, t]}
     * over valid queries, min-max mapped per sequence to {@code [rMin, 1]} over valid tokens and
     * divided by its mean over them (mean 1).
     */
    ATTENTION_CONCENTRATION
  }

  public CaptureConfig {
    if (weighting == null) {
      throw new HeadwiseException("capture weighting is required");
    }
    if (!(rMin > 0) || rMin > 1) {
      throw new HeadwiseException("r_min must be in (0, 1], got " + rMin);
    }
  }

  /** Plain GPTQ capture. */
  public static CaptureConfig uniform() {
    return new CaptureConfig(Weighting.UNIFORM, DEFAULT_R_MIN, false);
  }

  /** RSQ capture with {@code rMin}. */
  public static CaptureConfig attentionConcentration(double rMin) {
    return new CaptureConfig(Weighting.ATTENTION_CONCENTRATION, rMin, false);
  }

  /** The same configuration with the test outputs switched on or off. */
  public CaptureConfig withExposedInputs(boolean expose) {
    return new CaptureConfig(weighting, rMin, expose);
  }
}
