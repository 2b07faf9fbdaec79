package io.headwise.graph;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Read-only lookups over a graph: who produces and who consumes each tensor, initializers,
 * constants.
 */
public final class GraphIndex {
  private final GraphProto graph;
  private final Map<String, Integer> producer = new HashMap<>();
  private final Map<String, List<Integer>> consumers = new HashMap<>();
  private final Map<String, TensorProto> initializers = new HashMap<>();
  private final Set<String> graphInputs = new HashSet<>();

  public GraphIndex(GraphProto graph) {
    this.graph = graph;
    for (int i = 0; i < graph.getNodeCount(); i++) {
      NodeProto n = graph.getNode(i);
      for (String o : n.getOutputList()) {
        if (!o.isEmpty()) {
          producer.put(o, i);
        }
      }
      for (String in : n.getInputList()) {
        if (!in.isEmpty()) {
          consumers.computeIfAbsent(in, k -> new ArrayList<>()).add(i);
        }
      }
    }
    for (TensorProto t : graph.getInitializerList()) {
      initializers.put(t.getName(), t);
    }
    for (ValueInfoProto v : graph.getInputList()) {
      graphInputs.add(v.getName());
    }
  }

  public GraphProto graph() {
    return graph;
  }

  public NodeProto node(int index) {
    return graph.getNode(index);
  }

  /**
   * Index of the node producing {@code tensor}, or -1 for graph inputs, initializers and unknown
   * names.
   */
  public int producerIndex(String tensor) {
    Integer i = producer.get(tensor);
    return i == null ? -1 : i;
  }

  /** The node producing {@code tensor}, if any. */
  public Optional<NodeProto> producer(String tensor) {
    int i = producerIndex(tensor);
    return i < 0 ? Optional.empty() : Optional.of(graph.getNode(i));
  }

  /** Nodes consuming {@code tensor}, in graph order. */
  public List<NodeProto> consumers(String tensor) {
    List<Integer> idx = consumers.getOrDefault(tensor, Collections.emptyList());
    List<NodeProto> out = new ArrayList<>(idx.size());
    for (int i : idx) {
      out.add(graph.getNode(i));
    }
    return out;
  }

  public boolean isInitializer(String tensor) {
    return initializers.containsKey(tensor);
  }

  public Optional<TensorProto> initializer(String tensor) {
    return Optional.ofNullable(initializers.get(tensor));
  }

  public boolean isGraphInput(String tensor) {
    return graphInputs.contains(tensor);
  }

  /**
   * The values of {@code tensor} when it is a compile-time constant (an embedded initializer, a
   * {@code Constant} node, or a {@code Cast}/{@code Identity} of one); null otherwise.
   */
  public double[] constantValues(String tensor) {
    TensorProto init = initializers.get(tensor);
    if (init != null) {
      return graphInputs.contains(tensor) ? null : Tensors.toDoubles(init);
    }
    Optional<NodeProto> p = producer(tensor);
    if (p.isEmpty()) {
      return null;
    }
    NodeProto n = p.get();
    if (n.getOpType().equals("Constant")) {
      for (AttributeProto a : n.getAttributeList()) {
        switch (a.getName()) {
          case "value":
            return Tensors.toDoubles(a.getT());
          case "value_float":
            return new double[] {a.getF()};
          case "value_int":
            return new double[] {a.getI()};
          case "value_floats":
            return a.getFloatsList().stream().mapToDouble(Float::doubleValue).toArray();
          case "value_ints":
            return a.getIntsList().stream().mapToDouble(Long::doubleValue).toArray();
          default:
            break;
        }
      }
      return null;
    }
    if ((n.getOpType().equals("Cast") || n.getOpType().equals("Identity"))
        && n.getInputCount() > 0) {
      return constantValues(n.getInput(0));
    }
    if (n.getOpType().equals("Sqrt") && n.getInputCount() > 0) {
      double[] v = constantValues(n.getInput(0));
      if (v != null) {
        double[] r = new double[v.length];
        for (int i = 0; i < v.length; i++) {
          r[i] = Math.sqrt(v[i]);
        }
        return r;
      }
    }
    return null;
  }

  /** The single value of a scalar (or one-element) constant, or NaN. */
  public double scalarConstant(String tensor) {
    double[] v = constantValues(tensor);
    return v != null && v.length == 1 ? v[0] : Double.NaN;
  }

  private static final Set<String> BOOL_OPS =
      Set.of(
          "Equal",
          "Less",
          "LessOrEqual",
          "Greater",
          "GreaterOrEqual",
          "Not",
          "And",
          "Or",
          "Xor",
          "IsNaN",
          "IsInf");
  private static final Set<String> INT64_OPS =
      Set.of("Shape", "Size", "NonZero", "ArgMax", "ArgMin");
  private final Map<String, ElementType> elemTypes = new HashMap<>();

  /**
   * The ONNX element type of {@code tensor}: declared (graph input or output, value_info,
   * initializer) or inferred through its producers (Cast's target, a Constant's tensor, bool for
   * comparisons, int64 for Shape, the type of the value inputs for Where, otherwise the type of the
   * first input, as for elementwise ops, MatMul, Softmax, Dropout and shape ops); {@link
   * ElementType#UNDEFINED} when it cannot be told (or is a code newer than {@link ElementType}).
   */
  public ElementType elemType(String tensor) {
    return elemType(tensor, 0);
  }

  /** {@link #elemType}, or float when it cannot be told (as for a graph that never says). */
  public ElementType elemTypeOrFloat(String tensor) {
    ElementType t = elemType(tensor);
    return t == ElementType.UNDEFINED ? ElementType.FLOAT : t;
  }

  private ElementType elemType(String tensor, int depth) {
    ElementType known = elemTypes.get(tensor);
    if (known != null) {
      return known;
    }
    ElementType t = declaredElemType(tensor);
    if (t == ElementType.UNDEFINED && depth < 400) {
      Optional<NodeProto> p = producer(tensor);
      if (p.isPresent()) {
        t = inferredElemType(p.get(), depth);
      }
    }
    elemTypes.put(tensor, t);
    return t;
  }

  private static ElementType known(int code) {
    return ElementType.find(code).orElse(ElementType.UNDEFINED);
  }

  private ElementType declaredElemType(String tensor) {
    TensorProto init = initializers.get(tensor);
    if (init != null) {
      return known(init.getDataType());
    }
    for (List<ValueInfoProto> infos :
        List.of(graph.getInputList(), graph.getValueInfoList(), graph.getOutputList())) {
      for (ValueInfoProto v : infos) {
        if (v.getName().equals(tensor) && v.getType().hasTensorType()) {
          return known(v.getType().getTensorType().getElemType());
        }
      }
    }
    return ElementType.UNDEFINED;
  }

  private ElementType inferredElemType(NodeProto n, int depth) {
    String op = n.getOpType();
    if (op.equals("Cast")) {
      return known((int) intAttribute(n, "to", 0));
    }
    if (op.equals("CastLike") && n.getInputCount() > 1) {
      return elemType(n.getInput(1), depth + 1);
    }
    if (op.equals("Constant")) {
      for (AttributeProto a : n.getAttributeList()) {
        switch (a.getName()) {
          case "value":
            return known(a.getT().getDataType());
          case "value_float":
          case "value_floats":
            return ElementType.FLOAT;
          case "value_int":
          case "value_ints":
            return ElementType.INT64;
          default:
            break;
        }
      }
      return ElementType.UNDEFINED;
    }
    if (op.equals("ConstantOfShape")) {
      for (AttributeProto a : n.getAttributeList()) {
        if (a.getName().equals("value")) {
          return known(a.getT().getDataType());
        }
      }
      return ElementType.FLOAT;
    }
    if (BOOL_OPS.contains(op)) {
      return ElementType.BOOL;
    }
    if (INT64_OPS.contains(op)) {
      return ElementType.INT64;
    }
    if (op.equals("Where") && n.getInputCount() == 3) {
      ElementType a = elemType(n.getInput(1), depth + 1);
      return a != ElementType.UNDEFINED ? a : elemType(n.getInput(2), depth + 1);
    }
    for (String in : n.getInputList()) {
      if (!in.isEmpty()) {
        return elemType(in, depth + 1);
      }
    }
    return ElementType.UNDEFINED;
  }

  /** An integer attribute of a node, or {@code fallback} when absent. */
  public static long intAttribute(NodeProto node, String name, long fallback) {
    for (AttributeProto a : node.getAttributeList()) {
      if (a.getName().equals(name)) {
        return a.getI();
      }
    }
    return fallback;
  }

  /** An ints attribute of a node, or null when absent. */
  public static List<Long> intsAttribute(NodeProto node, String name) {
    for (AttributeProto a : node.getAttributeList()) {
      if (a.getName().equals(name)) {
        return a.getIntsList();
      }
    }
    return null;
  }
}
