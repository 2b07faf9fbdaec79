package io.headwise.export.quant;

import java.io.Serializable;
import java.util.Optional;

/**
 * One quantized linear layer as an executor returns it to the driver: where it sits, the packed
 * {@code MatMulNBits} tensors and GPTQ's bookkeeping.
 *
 * @param outputTensor the linear node's output (its identity in the graph)
 * @param nodeName the node's name
 * @param weightName the weight initializer that was quantized
 * @param layer attention block of the layer
 * @param hessianGroup index of the Hessian group it was quantized with (-1 for RTN)
 * @param inFeatures K
 * @param outFeatures N
 * @param containerBits MatMulNBits {@code bits} attribute
 * @param blockSize MatMulNBits {@code block_size}
 * @param packedB uint8 {@code [N, kBlocks, blob]}
 * @param scales float {@code [N, kBlocks]}
 * @param packedZeroPoints packed zero points, null for the symmetric default
 * @param symmetric whether the grid was symmetric
 * @param damping absolute dampening added to the Hessian diagonal (0 for RTN)
 * @param dampAttempts multiples of λ needed (0 for RTN)
 * @param deadInputs inputs with a zero Hessian diagonal
 * @param loss GPTQ's loss (0 for RTN)
 * @param outputError {@code Σ_t w_t ‖(W − Ŵ) x_t‖²} relative to {@code Σ_t w_t ‖W x_t‖²} on the
 *     calibration Hessian (NaN for RTN, which has none)
 * @param seconds wall time of the layer's quantization
 */
public record QuantizedLinear(
    String outputTensor,
    String nodeName,
    String weightName,
    int layer,
    int hessianGroup,
    int inFeatures,
    int outFeatures,
    int containerBits,
    int blockSize,
    byte[] packedB,
    float[] scales,
    byte[] packedZeroPoints,
    boolean symmetric,
    double damping,
    int dampAttempts,
    int deadInputs,
    double loss,
    double outputError,
    double seconds)
    implements Serializable {

  /** The packed tensors as the MatMulNBits rewriter takes them. */
  public MatMulNBitsWeights weights(int quantBits) {
    return new MatMulNBitsWeights(
        inFeatures,
        outFeatures,
        containerBits,
        blockSize,
        packedB,
        scales,
        Optional.ofNullable(packedZeroPoints),
        quantBits);
  }
}
