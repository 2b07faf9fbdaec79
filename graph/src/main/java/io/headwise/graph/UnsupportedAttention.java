package io.headwise.graph;

/** A fused attention op that headwise does not decompose yet, with the layer it sits in. */
public record UnsupportedAttention(int layer, String opType, String domain, String nodeName) {
  /** A one-line description for reports and errors. */
  public String describe() {
    String d = domain.isEmpty() ? "ai.onnx" : domain;
    return d + "::" + opType + " (node '" + nodeName + "', layer " + layer + ") is not yet supported";
  }
}
