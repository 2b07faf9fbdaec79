package io.headwise.graph;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.TypeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Appends nodes, constants, inputs and outputs to a graph, emitting each op in the form the model's
 * opset expects (e.g. {@code ReduceSum} axes as an attribute below opset 13 and as an input from
 * 13; {@code LessOrEqual} only from opset 12). New names carry a prefix so they never collide with
 * the model's own.
 */
public final class GraphBuilder {
  /*
   * The int codes of the element types onnx-export writes into protobuf fields and passes to its own
   * BodyBuilder (about 50 uses in 8 files there); code in graph, profilers and planners uses
   * ElementType.
   */
  public static final int FLOAT = ElementType.FLOAT.code();

  public static final int FLOAT16 = ElementType.FLOAT16.code();
  public static final int BFLOAT16 = ElementType.BFLOAT16.code();

  public static final int INT64 = ElementType.INT64.code();
  public static final int BOOL = ElementType.BOOL.code();

  private final GraphProto.Builder graph;
  private final int opset;
  private final String prefix;
  private final Map<String, String> constants = new HashMap<>();
  private int counter;

  public GraphBuilder(GraphProto.Builder graph, int opset, String prefix) {
    this.graph = graph;
    this.opset = opset;
    this.prefix = prefix;
  }

  public int opset() {
    return opset;
  }

  public GraphProto.Builder graph() {
    return graph;
  }

  /** A fresh tensor name. */
  public String fresh(String hint) {
    return prefix + hint + "_" + (counter++);
  }

  /** Appends a node with one output and returns the output name. */
  public String op(String type, List<String> inputs, AttributeProto... attrs) {
    String out = fresh(type);
    op(type, inputs, List.of(out), attrs);
    return out;
  }

  /** Appends a node with the given outputs. */
  public void op(String type, List<String> inputs, List<String> outputs, AttributeProto... attrs) {
    NodeProto.Builder n =
        NodeProto.newBuilder()
            .setOpType(type)
            .setName(fresh("node_" + type))
            .addAllInput(inputs)
            .addAllOutput(outputs);
    for (AttributeProto a : attrs) {
      n.addAttribute(a);
    }
    graph.addNode(n);
  }

  public String op(String type, String... inputs) {
    return op(type, List.of(inputs));
  }

  public static AttributeProto intAttr(String name, long v) {
    return AttributeProto.newBuilder()
        .setName(name)
        .setType(AttributeProto.AttributeType.INT)
        .setI(v)
        .build();
  }

  public static AttributeProto intsAttr(String name, long... v) {
    AttributeProto.Builder b =
        AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INTS);
    for (long x : v) {
      b.addInts(x);
    }
    return b.build();
  }

  public static AttributeProto floatAttr(String name, float v) {
    return AttributeProto.newBuilder()
        .setName(name)
        .setType(AttributeProto.AttributeType.FLOAT)
        .setF(v)
        .build();
  }

  public static AttributeProto tensorAttr(String name, TensorProto t) {
    return AttributeProto.newBuilder()
        .setName(name)
        .setType(AttributeProto.AttributeType.TENSOR)
        .setT(t)
        .build();
  }

  /** A shared int64 constant (scalar when one value and {@code vector} is false). */
  public String constLongs(boolean vector, long... v) {
    String key = "L" + vector + Arrays.toString(v);
    return constants.computeIfAbsent(
        key,
        k -> {
          String name = fresh("const");
          graph.addInitializer(
              vector ? Tensors.longVector(name, v) : Tensors.longScalar(name, v[0]));
          return name;
        });
  }

  public String constLong(long v) {
    return constLongs(false, v);
  }

  /** A shared float scalar constant. */
  public String constFloat(float v) {
    String key = "F" + Float.floatToIntBits(v);
    return constants.computeIfAbsent(
        key,
        k -> {
          String name = fresh("const");
          graph.addInitializer(Tensors.floatScalar(name, v));
          return name;
        });
  }

  public String cast(String x, ElementType to) {
    return op("Cast", List.of(x), intAttr("to", to.code()));
  }

  /** ReduceSum over {@code axes}, opset-aware. */
  public String reduceSum(String x, boolean keepDims, long... axes) {
    if (opset >= 13) {
      return op(
          "ReduceSum", List.of(x, constLongs(true, axes)), intAttr("keepdims", keepDims ? 1 : 0));
    }
    return op(
        "ReduceSum", List.of(x), intsAttr("axes", axes), intAttr("keepdims", keepDims ? 1 : 0));
  }

  /** Unsqueeze at {@code axes}, opset-aware. */
  public String unsqueeze(String x, long... axes) {
    if (opset >= 13) {
      return op("Unsqueeze", x, constLongs(true, axes));
    }
    return op("Unsqueeze", List.of(x), intsAttr("axes", axes));
  }

  /** Squeeze at {@code axes}, opset-aware. */
  public String squeeze(String x, long... axes) {
    if (opset >= 13) {
      return op("Squeeze", x, constLongs(true, axes));
    }
    return op("Squeeze", List.of(x), intsAttr("axes", axes));
  }

  /** a ≤ b (LessOrEqual exists only from opset 12). */
  public String lessOrEqual(String a, String b) {
    return opset >= 12 ? op("LessOrEqual", a, b) : op("Not", op("Greater", a, b));
  }

  /** a ≥ b. */
  public String greaterOrEqual(String a, String b) {
    return opset >= 12 ? op("GreaterOrEqual", a, b) : op("Not", op("Less", a, b));
  }

  public String less(String a, String b) {
    return op("Less", a, b);
  }

  /** Inclusive cumulative sum along {@code axis}. */
  public String cumSum(String x, long axis) {
    return op("CumSum", x, constLong(axis));
  }

  /**
   * Elementwise max of two tensors (opset 11 Max has no broadcasting restriction issues for same
   * types).
   */
  public String max(String a, String b) {
    return op("Max", a, b);
  }

  public String min(String a, String b) {
    return op("Min", a, b);
  }

  /** x[axis] of a 1-D int64 shape tensor as a 1-element vector. */
  public String dim(String shape, long index) {
    return op("Gather", List.of(shape, constLongs(true, index)), intAttr("axis", 0));
  }

  /** Adds a graph input. */
  public void addInput(String name, ElementType elemType, String... dims) {
    graph.addInput(valueInfo(name, elemType, dims));
  }

  /** Adds a graph output with the given element type and symbolic dims. */
  public void addOutput(String name, ElementType elemType, String... dims) {
    graph.addOutput(valueInfo(name, elemType, dims));
  }

  /** Renames {@code from} to {@code to} by an Identity node (used to give outputs stable names). */
  public void identity(String from, String to) {
    op("Identity", List.of(from), List.of(to));
  }

  private static ValueInfoProto valueInfo(String name, ElementType elemType, String... dims) {
    TensorShapeProto.Builder shape = TensorShapeProto.newBuilder();
    for (String d : dims) {
      TensorShapeProto.Dimension.Builder db = TensorShapeProto.Dimension.newBuilder();
      try {
        db.setDimValue(Long.parseLong(d));
      } catch (NumberFormatException e) {
        db.setDimParam(d);
      }
      shape.addDim(db);
    }
    return ValueInfoProto.newBuilder()
        .setName(name)
        .setType(
            TypeProto.newBuilder()
                .setTensorType(
                    TypeProto.Tensor.newBuilder().setElemType(elemType.code()).setShape(shape)))
        .build();
  }

  /** The nodes appended so far (for tests). */
  public List<NodeProto> appended() {
    return new ArrayList<>(graph.getNodeList());
  }
}
