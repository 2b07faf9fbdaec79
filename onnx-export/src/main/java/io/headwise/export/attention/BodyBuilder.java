package io.headwise.export.attention;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import io.headwise.graph.GraphBuilder;
import io.headwise.graph.Tensors;
import java.util.ArrayList;
import java.util.List;

/**
 * Emits the nodes of a function body (or of a subgraph inside it) against one default-domain opset:
 * constants are {@code Constant} nodes (a function has no initializers), and ops whose form changed
 * across opsets ({@code Unsqueeze}, {@code ReduceSum} axes as attribute below 13 and as input from
 * 13) are written in the form the opset expects.
 */
final class BodyBuilder {
  private final int opset;
  private final String prefix;
  private final List<NodeProto> nodes = new ArrayList<>();
  private final int[] counter;

  BodyBuilder(int opset, String prefix) {
    this(opset, prefix, new int[1]);
  }

  private BodyBuilder(int opset, String prefix, int[] counter) {
    this.opset = opset;
    this.prefix = prefix;
    this.counter = counter;
  }

  /** A builder for a subgraph body; names stay unique across the parent and all branches. */
  BodyBuilder branch(String branchPrefix) {
    return new BodyBuilder(opset, prefix + branchPrefix, counter);
  }

  List<NodeProto> nodes() {
    return nodes;
  }

  String fresh(String hint) {
    return prefix + hint + "_" + (counter[0]++);
  }

  /** Appends a node with one output named after {@code hint}. */
  String op(String type, String hint, List<String> inputs, AttributeProto... attrs) {
    String out = fresh(hint);
    node(type, inputs, List.of(out), attrs);
    return out;
  }

  String op(String type, String hint, String... inputs) {
    return op(type, hint, List.of(inputs));
  }

  /** Appends a node with the given outputs. */
  void node(String type, List<String> inputs, List<String> outputs, AttributeProto... attrs) {
    NodeProto.Builder n =
        NodeProto.newBuilder()
            .setOpType(type)
            .setName(fresh("n_" + type))
            .addAllInput(inputs)
            .addAllOutput(outputs);
    for (AttributeProto a : attrs) {
      n.addAttribute(a);
    }
    nodes.add(n.build());
  }

  /** An {@code If} node taking {@code thenBranch} or {@code elseBranch}. */
  void ifNode(
      List<String> inputs, List<String> outputs, GraphProto thenBranch, GraphProto elseBranch) {
    node(
        "If",
        inputs,
        outputs,
        graphAttr("then_branch", thenBranch),
        graphAttr("else_branch", elseBranch));
  }

  private static AttributeProto graphAttr(String name, GraphProto g) {
    return AttributeProto.newBuilder()
        .setName(name)
        .setType(AttributeProto.AttributeType.GRAPH)
        .setG(g)
        .build();
  }

  /** A Constant whose value is the call site's TENSOR attribute {@code attribute}. */
  String attributeTensor(String attribute) {
    String out = prefix + attribute;
    nodes.add(
        NodeProto.newBuilder()
            .setOpType("Constant")
            .setName(fresh("attr_" + attribute))
            .addOutput(out)
            .addAttribute(
                AttributeProto.newBuilder()
                    .setName("value")
                    .setType(AttributeProto.AttributeType.TENSOR)
                    .setRefAttrName(attribute))
            .build());
    return out;
  }

  /** A Constant holding {@code t}. */
  String constant(String hint, TensorProto t) {
    String out = fresh(hint);
    nodes.add(
        NodeProto.newBuilder()
            .setOpType("Constant")
            .setName(fresh("const_" + hint))
            .addOutput(out)
            .addAttribute(GraphBuilder.tensorAttr("value", t.toBuilder().setName(out).build()))
            .build());
    return out;
  }

  String floatScalar(String hint, float v) {
    return constant(hint, Tensors.floatScalar("", v));
  }

  String longScalar(String hint, long v) {
    return constant(hint, Tensors.longScalar("", v));
  }

  String longVector(String hint, long... v) {
    return constant(hint, Tensors.longVector("", v));
  }

  /** A scalar bool constant. */
  String boolScalar(String hint, boolean v) {
    TensorProto t =
        TensorProto.newBuilder().setDataType(GraphBuilder.BOOL).addInt32Data(v ? 1 : 0).build();
    return constant(hint, t);
  }

  /** Gather of {@code indices} along {@code axis}. */
  String gather(String hint, String x, String indices, long axis) {
    return op("Gather", hint, List.of(x, indices), GraphBuilder.intAttr("axis", axis));
  }

  /** Concat of {@code inputs} along {@code axis}. */
  String concat(String hint, long axis, String... inputs) {
    return op("Concat", hint, List.of(inputs), GraphBuilder.intAttr("axis", axis));
  }

  String cast(String x, int to) {
    return op("Cast", "cast", List.of(x), GraphBuilder.intAttr("to", to));
  }

  String reshape(String x, long... shape) {
    return op("Reshape", "reshape", x, longVector("shape", shape));
  }

  String transpose(String x, long... perm) {
    return op("Transpose", "transpose", List.of(x), GraphBuilder.intsAttr("perm", perm));
  }

  /** ReduceSum over {@code axes}: axes as an attribute below opset 13, as an input from 13. */
  String reduceSum(String x, boolean keepDims, long... axes) {
    AttributeProto keep = GraphBuilder.intAttr("keepdims", keepDims ? 1 : 0);
    if (opset >= 13) {
      return op("ReduceSum", "sum", List.of(x, longVector("axes", axes)), keep);
    }
    return op("ReduceSum", "sum", List.of(x), GraphBuilder.intsAttr("axes", axes), keep);
  }

  /** Unsqueeze at {@code axes}: axes as an attribute below opset 13, as an input from 13. */
  String unsqueeze(String x, long... axes) {
    if (opset >= 13) {
      return op("Unsqueeze", "unsqueeze", List.of(x, longVector("axes", axes)));
    }
    return op("Unsqueeze", "unsqueeze", List.of(x), GraphBuilder.intsAttr("axes", axes));
  }

  /** ReduceMax over all axes to a scalar (the same node at every opset: no axes given). */
  String reduceMaxAll(String x) {
    return op("ReduceMax", "max", List.of(x), GraphBuilder.intAttr("keepdims", 0));
  }

  /** Element {@code index} of a 1-D tensor as a scalar. */
  String element(String vector, long index) {
    return op(
        "Gather",
        "element",
        List.of(vector, longScalar("index", index)),
        GraphBuilder.intAttr("axis", 0));
  }

  /** a &lt; b, elementwise. */
  String less(String a, String b) {
    return op("Less", "less", a, b);
  }

  String not(String a) {
    return op("Not", "not", a);
  }

  String and(String a, String b) {
    return op("And", "and", a, b);
  }

  String or(String a, String b) {
    return op("Or", "or", a, b);
  }

  String where(String cond, String a, String b) {
    return op("Where", "where", cond, a, b);
  }
}
