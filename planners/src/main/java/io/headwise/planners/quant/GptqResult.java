package io.headwise.planners.quant;

/**
 * What GPTQ returns for one layer.
 *
 * @param weight codes, scales and zero points ({@link QuantizedWeight#dequantize()} gives the
 *     dequantized weights GPTQ's loss refers to)
 * @param loss GPTQ's own error, {@code Σ (w − q)² / U_ii² / 2} over the error-updated weights
 * @param damping absolute λ actually added to the Hessian diagonal ({@code attempts · percentDamp ·
 *     mean diag})
 * @param dampAttempts how many multiples of λ were needed (1 when the first factorisation
 *     succeeded)
 * @param deadInputs input columns whose Hessian diagonal was zero (their weights were zeroed)
 * @param seconds wall time of the whole call
 */
public record GptqResult(
    QuantizedWeight weight,
    double loss,
    double damping,
    int dampAttempts,
    int deadInputs,
    double seconds) {

  /** The dequantized weights {@code [N_out][K]}. */
  public double[][] dequantized() {
    return weight.dequantize();
  }
}
