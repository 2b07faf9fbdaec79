package io.headwise.jobs.quantize;

import io.headwise.planners.quant.GptqOptions;
import io.headwise.planners.quant.QuantConfig;
import io.headwise.planners.quant.QuantScheme;
import io.headwise.profilers.quant.CaptureConfig;
import io.headwise.schemas.HeadwiseException;
import java.io.Serializable;
import java.util.Locale;

/**
 * What the quantize step does to every linear layer: the method, the grid and the GPTQ knobs.
 *
 * @param method {@code rtn}, {@code gptq} (Hessian with {@code r ≡ 1}) or {@code rsq} (Hessian
 *     weighted by attention concentration)
 * @param bits code width: 3, 4 or 8
 * @param groupSize columns per group along K; also the MatMulNBits block size (a power of two ≥ 16)
 * @param symmetric symmetric grid (no zero-point input) instead of the asymmetric min/max grid
 * @param clipSearch GPTQ/QuaRot's MSE range search per group
 * @param percentDamp GPTQ dampening as a fraction of the mean Hessian diagonal
 * @param actOrder quantize columns by decreasing Hessian diagonal (groups stay static)
 * @param rMin RSQ's lower end of the token-weight range
 */
public record QuantizeSpec(
    String method,
    int bits,
    int groupSize,
    boolean symmetric,
    boolean clipSearch,
    double percentDamp,
    boolean actOrder,
    double rMin)
    implements Serializable {

  public static final String RTN = "rtn";
  public static final String GPTQ = "gptq";
  public static final String RSQ = "rsq";

  public QuantizeSpec {
    method = method == null ? "" : method.trim().toLowerCase(Locale.ROOT);
    if (!method.equals(RTN) && !method.equals(GPTQ) && !method.equals(RSQ)) {
      throw new HeadwiseException("--method must be rtn, gptq or rsq, got '" + method + "'");
    }
    if (bits != 3 && bits != 4 && bits != 8) {
      throw new HeadwiseException(
          "--bits must be 3, 4 or 8 (MatMulNBits runs 4- and 8-bit containers; 3-bit codes"
              + " are stored in 4-bit ones), got "
              + bits);
    }
    if (groupSize < 16 || Integer.bitCount(groupSize) != 1) {
      throw new HeadwiseException(
          "--group must be a power of two >= 16 (it is also MatMulNBits' block_size), got "
              + groupSize);
    }
    if (!(percentDamp > 0) || percentDamp >= 1) {
      throw new HeadwiseException("--damp must be in (0, 1), got " + percentDamp);
    }
    if (!(rMin > 0) || rMin > 1) {
      throw new HeadwiseException("--r-min must be in (0, 1], got " + rMin);
    }
  }

  /** Whether the method needs Hessians. */
  public boolean needsHessian() {
    return !method.equals(RTN);
  }

  /** The grid. */
  public QuantConfig config() {
    return new QuantConfig(
        bits, groupSize, symmetric ? QuantScheme.SYMMETRIC : QuantScheme.ASYMMETRIC, clipSearch);
  }

  /** The GPTQ solver options (block 128, up to 49 dampening attempts as RSQ). */
  public GptqOptions gptqOptions() {
    return new GptqOptions(128, percentDamp, 49, actOrder);
  }

  /** How tokens are weighted in the Hessian. */
  public CaptureConfig capture() {
    return method.equals(RSQ)
        ? CaptureConfig.attentionConcentration(rMin)
        : CaptureConfig.uniform();
  }
}
