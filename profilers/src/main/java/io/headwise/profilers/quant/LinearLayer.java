package io.headwise.profilers.quant;

import java.io.Serializable;

/**
 * One linear layer inside a transformer block: a {@code MatMul} or {@code Gemm} whose weight is a
 * 2-D float initializer.
 *
 * @param outputTensor the node's output, which identifies the node (node names may be empty or
 *     repeated)
 * @param nodeName the node's name (possibly empty)
 * @param opType {@code MatMul} or {@code Gemm}
 * @param inputTensor the activation input X
 * @param weightName the weight initializer
 * @param inFeatures K, the input width
 * @param outFeatures N, the output width
 * @param weightOutIn true when the initializer is stored {@code [N, K]} (a Gemm with {@code transB
 *     = 1}), false for {@code [K, N]}
 * @param layer the attention block the layer belongs to (q/k/v feed it; o_proj and the MLP follow
 *     it)
 * @param writesResidual true when the layer's output is added back to the residual stream (o_proj,
 *     down_proj)
 */
public record LinearLayer(
    String outputTensor,
    String nodeName,
    String opType,
    String inputTensor,
    String weightName,
    int inFeatures,
    int outFeatures,
    boolean weightOutIn,
    int layer,
    boolean writesResidual)
    implements Serializable {

  /** A short description for messages: the node name, or the op and its output. */
  public String describe() {
    return nodeName.isEmpty() ? opType + " -> " + outputTensor : nodeName;
  }
}
