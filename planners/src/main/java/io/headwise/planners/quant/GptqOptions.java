package io.headwise.planners.quant;

/**
 * Knobs of the GPTQ solver (not of the grid, which is {@link QuantConfig}).
 *
 * @param blockSize columns per lazy-batch block (GPTQ/RSQ: 128)
 * @param percentDamp dampening λ as a fraction of the mean Hessian diagonal (0.01 = 1 %)
 * @param maxDampAttempts how many times λ is added before giving up: attempt {@code m} factors
 *     {@code H + m·λ·I} (RSQ's {@code --add_until_fail} tries up to 49 times; 1 = no retry)
 * @param actOrder quantize columns in order of decreasing Hessian diagonal; groups stay static
 *     (parameters from the original column order), so no {@code g_idx} is needed
 */
public record GptqOptions(
    int blockSize, double percentDamp, int maxDampAttempts, boolean actOrder) {

  public GptqOptions {
    if (blockSize < 1) {
      throw new IllegalArgumentException("blockSize must be positive, got " + blockSize);
    }
    if (!(percentDamp > 0) || Double.isInfinite(percentDamp)) {
      throw new IllegalArgumentException("percentDamp must be positive, got " + percentDamp);
    }
    if (maxDampAttempts < 1) {
      throw new IllegalArgumentException(
          "maxDampAttempts must be at least 1, got " + maxDampAttempts);
    }
  }

  /** RSQ's settings: block 128, λ = 1 % of the mean diagonal, up to 49 attempts, no act-order. */
  public static GptqOptions defaults() {
    return new GptqOptions(128, 0.01, 49, false);
  }

  /** The same options with act-order switched on or off. */
  public GptqOptions withActOrder(boolean enabled) {
    return new GptqOptions(blockSize, percentDamp, maxDampAttempts, enabled);
  }
}
