package io.headwise.planners.quant;

/**
 * How a quantization grid is placed around zero.
 *
 * <p>Both schemes produce unsigned codes {@code c ∈ [0, 2^bits − 1]} and dequantize as {@code (c −
 * zero) · scale}, the convention of ONNX Runtime's {@code MatMulNBits}.
 */
public enum QuantScheme {
  /**
   * GPTQ's min/max grid: {@code maxq = 2^b − 1}, min clamped to ≤ 0 and max to ≥ 0, all-zero groups
   * mapped to [−1, 1], {@code scale = max(max − min, 1e-5) / maxq}, {@code zero = rint(−min /
   * scale)}. Needs an explicit zero-point input when exported.
   */
  ASYMMETRIC,
  /**
   * QuaRot/RSQ's symmetric grid: {@code scale = max(absmax, 1e-5) / (2^(b−1) − 1)} and signed
   * levels {@code rint(w / scale) ∈ [−2^(b−1), 2^(b−1) − 1]}, stored shifted by the fixed zero
   * point {@code 2^(b−1)}. That zero point is {@code MatMulNBits}' default, so symmetric weights
   * export without a zero-point input. (Not GPTQ's own symmetric grid, whose scale is {@code
   * 2·absmax / (2^b − 1)}.)
   */
  SYMMETRIC
}
