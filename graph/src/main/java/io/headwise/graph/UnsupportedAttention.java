package io.headwise.graph;

/**
 * Attention that headwise does not profile, with the layer it sits in: a fused attention op (ONNX
 * {@code Attention}, {@code com.microsoft} {@code Attention}/{@code MultiHeadAttention}/{@code
 * GroupQueryAttention}…), or an explicit core it cannot read (named by its Softmax or control-flow
 * node), with the reason in {@code reason} (null for fused ops).
 */
public record UnsupportedAttention(
    int layer, String opType, String domain, String nodeName, String reason) {

  /** A fused attention op. */
  public UnsupportedAttention(int layer, String opType, String domain, String nodeName) {
    this(layer, opType, domain, nodeName, null);
  }

  /** A one-line description for reports and errors. */
  public String describe() {
    String d = domain.isEmpty() ? "ai.onnx" : domain;
    String what = d + "::" + opType + " (node '" + nodeName + "', layer " + layer + ")";
    return reason == null ? what + " is not yet supported" : what + " is not supported: " + reason;
  }
}
