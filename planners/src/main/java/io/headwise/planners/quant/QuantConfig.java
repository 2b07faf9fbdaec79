package io.headwise.planners.quant;

/**
 * Bit width, group size along the input dimension K, grid scheme and clipping of a weight
 * quantization: the one value every quantizer in this package takes.
 *
 * <p>Groups are static: group {@code g} of output row {@code n} covers input columns {@code
 * [g·groupSize, min(K, (g+1)·groupSize))} in the original column order, and its scale and zero
 * point come from the original (not error-updated) weights, so exports never need a {@code g_idx}.
 * {@code groupSize = }{@link #PER_CHANNEL} means one group per output row.
 *
 * @param bits bits per weight, 2 to 8 (RSQ ships 3, GPTQ studies 3/4, {@code MatMulNBits} runs
 *     2/4/8; other widths are stored in the next wider container when exported)
 * @param groupSize columns per group (a positive number; 32, 64, 128 export directly), or −1 for
 *     per output channel
 * @param scheme asymmetric (explicit zero points) or symmetric (zero point {@code 2^(bits−1)})
 * @param clipSearch whether to shrink each group's range by the MSE search of GPTQ/QuaRot's {@code
 *     find_params(mse=True)}: factors {@code p = 1 − i/100} for {@code i < 80}, error {@code Σ|q −
 *     w|^2.4}, best kept (RSQ's {@code --w_clip})
 */
public record QuantConfig(int bits, int groupSize, QuantScheme scheme, boolean clipSearch) {

  /** Group size meaning "one group per output channel". */
  public static final int PER_CHANNEL = -1;

  public QuantConfig {
    if (bits < 2 || bits > 8) {
      throw new IllegalArgumentException("bits must be in 2..8, got " + bits);
    }
    if (groupSize != PER_CHANNEL && groupSize < 1) {
      throw new IllegalArgumentException(
          "groupSize must be positive or -1 (per channel), got " + groupSize);
    }
    if (scheme == null) {
      throw new IllegalArgumentException("scheme is required");
    }
  }

  /** Asymmetric grid without clip search. */
  public static QuantConfig asymmetric(int bits, int groupSize) {
    return new QuantConfig(bits, groupSize, QuantScheme.ASYMMETRIC, false);
  }

  /** Symmetric grid without clip search. */
  public static QuantConfig symmetric(int bits, int groupSize) {
    return new QuantConfig(bits, groupSize, QuantScheme.SYMMETRIC, false);
  }

  /** RSQ's shipped setting: symmetric, per channel, MSE clip search. */
  public static QuantConfig rsqDefault(int bits) {
    return new QuantConfig(bits, PER_CHANNEL, QuantScheme.SYMMETRIC, true);
  }

  /** The same configuration with clip search switched on or off. */
  public QuantConfig withClipSearch(boolean enabled) {
    return new QuantConfig(bits, groupSize, scheme, enabled);
  }

  /** Whether there is one group per output row. */
  public boolean perChannel() {
    return groupSize == PER_CHANNEL;
  }

  /** Largest code, {@code 2^bits − 1}. */
  public int maxCode() {
    return (1 << bits) - 1;
  }

  /** The fixed zero point of the symmetric grid, {@code 2^(bits−1)}. */
  public int symmetricZero() {
    return 1 << (bits - 1);
  }

  /** Columns per group for an input dimension of {@code k}: {@code k} when per channel. */
  public int groupWidth(int k) {
    return perChannel() ? k : groupSize;
  }

  /** Number of groups per output row for an input dimension of {@code k}. */
  public int groupCount(int k) {
    return perChannel() ? 1 : (k + groupSize - 1) / groupSize;
  }
}
