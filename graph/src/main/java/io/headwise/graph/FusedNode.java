package io.headwise.graph;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import io.headwise.schemas.HeadwiseException;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * A fused attention node being expanded: reads its attributes and refuses, by name, every attribute
 * value, input or output the expansion does not reproduce, so that an expanded core never silently
 * computes something else than the fused op.
 */
final class FusedNode {
  private final NodeProto node;
  private final Set<String> handled = new HashSet<>();

  FusedNode(NodeProto node) {
    this.node = node;
  }

  NodeProto node() {
    return node;
  }

  String describe() {
    String d = node.getDomain().isEmpty() ? "ai.onnx" : node.getDomain();
    return d + "::" + node.getOpType() + " node '" + node.getName() + "'";
  }

  HeadwiseException refuse(String why) {
    return new HeadwiseException(describe() + " cannot be profiled or exported: " + why);
  }

  private AttributeProto attribute(String name) {
    for (AttributeProto a : node.getAttributeList()) {
      if (a.getName().equals(name)) {
        return a;
      }
    }
    return null;
  }

  /** An int attribute (marked handled), or {@code fallback}. */
  long intAttr(String name, long fallback) {
    handled.add(name);
    AttributeProto a = attribute(name);
    return a == null ? fallback : a.getI();
  }

  /** A required int attribute (marked handled). */
  long requiredInt(String name) {
    handled.add(name);
    AttributeProto a = attribute(name);
    if (a == null) {
      throw refuse("required attribute '" + name + "' is missing");
    }
    return a.getI();
  }

  /** A float attribute (marked handled), or {@code fallback}. */
  double floatAttr(String name, double fallback) {
    handled.add(name);
    AttributeProto a = attribute(name);
    return a == null ? fallback : a.getF();
  }

  /** An ints attribute (marked handled), or null. */
  List<Long> intsAttr(String name) {
    handled.add(name);
    AttributeProto a = attribute(name);
    return a == null ? null : a.getIntsList();
  }

  /** A string attribute (marked handled), or {@code fallback}. */
  String stringAttr(String name, String fallback) {
    handled.add(name);
    AttributeProto a = attribute(name);
    return a == null ? fallback : a.getS().toStringUtf8();
  }

  /** Refuses an int attribute whose value is not one of {@code accepted}. */
  long intAttrIn(String name, long fallback, long... accepted) {
    long v = intAttr(name, fallback);
    for (long a : accepted) {
      if (a == v) {
        return v;
      }
    }
    throw refuse(
        "attribute "
            + name
            + "="
            + v
            + " is not supported (headwise handles "
            + name
            + " in "
            + Arrays.toString(accepted)
            + ")");
  }

  /** Refuses a float attribute whose value is not {@code accepted}. */
  void floatAttrIs(String name, double accepted) {
    double v = floatAttr(name, accepted);
    if (v != accepted) {
      throw refuse(
          "attribute "
              + name
              + "="
              + v
              + " is not supported (headwise handles only "
              + accepted
              + ")");
    }
  }

  /** Refuses a string attribute whose value is not one of {@code accepted}. */
  void stringAttrIn(String name, String fallback, String... accepted) {
    String v = stringAttr(name, fallback);
    if (!List.of(accepted).contains(v)) {
      throw refuse(
          "attribute "
              + name
              + "=\""
              + v
              + "\" is not supported (headwise handles "
              + String.join(", ", accepted)
              + ")");
    }
  }

  /**
   * Marks attributes whose value does not change the math (e.g. a bit width of an unused
   * quantization).
   */
  void ignore(String... names) {
    handled.addAll(List.of(names));
  }

  /** Refuses any attribute no reader above looked at. Call after reading every attribute. */
  void refuseUnhandled() {
    for (AttributeProto a : node.getAttributeList()) {
      if (!handled.contains(a.getName())) {
        throw refuse("attribute '" + a.getName() + "' is not supported by headwise");
      }
    }
  }

  /** Input {@code i}, or "" when absent. */
  String input(int i) {
    return i < node.getInputCount() ? node.getInput(i) : "";
  }

  boolean hasInput(int i) {
    return !input(i).isEmpty();
  }

  /** Output {@code i}, or "" when absent. */
  String output(int i) {
    return i < node.getOutputCount() ? node.getOutput(i) : "";
  }

  boolean hasOutput(int i) {
    return !output(i).isEmpty();
  }

  /** Refuses when optional input {@code i} (named {@code name} in the op's schema) is given. */
  void refuseInput(int i, String name) {
    if (hasInput(i)) {
      throw refuse("input " + i + " (" + name + ") is not supported by headwise");
    }
  }

  /** Refuses when optional output {@code i} is consumed. */
  void refuseOutput(int i, String name) {
    if (hasOutput(i)) {
      throw refuse("output " + i + " (" + name + ") is not supported by headwise");
    }
  }

  /** Refuses any input at index ≥ {@code count}. */
  void refuseInputsFrom(int count, String what) {
    for (int i = count; i < node.getInputCount(); i++) {
      if (hasInput(i)) {
        throw refuse("input " + i + " (" + what + ") is not supported by headwise");
      }
    }
  }
}
