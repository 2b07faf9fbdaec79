package io.headwise.graph;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Expands the fused attention operators headwise supports into decomposed cores ({@link
 * FusedCoreBuilder}) so that the locator, the statistics, the exporter and quantization read them
 * like any explicit attention. Each fused node is replaced in place by nodes that write its outputs
 * (attention output, present key/value) under the same names; node and tensor names are derived
 * from the fused node's name, so every expansion of one model is identical. An attribute, input or
 * output the expansion does not reproduce is a {@link io.headwise.schemas.HeadwiseException} naming
 * it.
 *
 * <p>Supported: {@code com.microsoft} GroupQueryAttention, Attention and MultiHeadAttention; ONNX
 * {@code Attention} (opset 23). Other fused ops stay in the graph and are reported by the locator
 * as unsupported.
 */
public final class FusedAttention {
  static final String MS = "com.microsoft";
  private static final String PREFIX = "hw_fused/";

  /** Expands one fused node with the builder, reading the graph through the index. */
  @FunctionalInterface
  interface Expansion {
    void expand(FusedNode node, FusedCoreBuilder b, GraphIndex index);
  }

  private static final Map<String, Expansion> EXPANSIONS =
      Map.of(
          MS + "::GroupQueryAttention",
          GroupQueryAttentionExpansion::expand,
          MS + "::Attention",
          MsAttentionExpansion::expand,
          MS + "::MultiHeadAttention",
          MultiHeadAttentionExpansion::expand,
          "::Attention",
          OnnxAttentionExpansion::expand);

  private FusedAttention() {}

  /** True when {@code n} is a fused attention op that {@link #expand} rewrites. */
  public static boolean expandable(NodeProto n) {
    return EXPANSIONS.containsKey(key(n));
  }

  private static String key(NodeProto n) {
    String d = n.getDomain().equals("ai.onnx") ? "" : n.getDomain();
    return d + "::" + n.getOpType();
  }

  /**
   * The model with every supported fused attention node of its main graph replaced by a decomposed
   * core.
   */
  public static ModelProto expand(ModelProto model) {
    GraphProto graph = model.getGraph();
    if (graph.getNodeList().stream().noneMatch(FusedAttention::expandable)) {
      return model;
    }
    int opset = defaultOpset(model);
    GraphIndex index = new GraphIndex(graph);
    GraphProto.Builder out = graph.toBuilder().clearNode();
    List<NodeProto> nodes = new ArrayList<>(graph.getNodeCount() * 2);
    int ordinal = 0;
    for (NodeProto n : graph.getNodeList()) {
      Expansion e = EXPANSIONS.get(key(n));
      if (e == null) {
        nodes.add(n);
        continue;
      }
      GraphProto.Builder scratch = GraphProto.newBuilder();
      String base = n.getName().isEmpty() ? "node" + ordinal : n.getName();
      GraphBuilder g = new GraphBuilder(scratch, opset, PREFIX + base + "/");
      e.expand(new FusedNode(n), new FusedCoreBuilder(g), index);
      nodes.addAll(scratch.getNodeList());
      out.addAllInitializer(scratch.getInitializerList());
      ordinal++;
    }
    return model.toBuilder().setGraph(out.addAllNode(nodes)).build();
  }

  /**
   * The fused op a located block was expanded from, as {@code domain::Op 'node name'}, or empty for
   * explicit attention. {@code original} is the model's graph before expansion.
   */
  public static Optional<String> origin(GraphProto original, AttentionBlock block) {
    String softmax = block.softmaxNode();
    if (!softmax.startsWith(PREFIX)) {
      return Optional.empty();
    }
    String rest = softmax.substring(PREFIX.length());
    int slash = rest.lastIndexOf('/');
    String name = slash < 0 ? rest : rest.substring(0, slash);
    int ordinal = 0;
    for (NodeProto n : original.getNodeList()) {
      if (!expandable(n)) {
        continue;
      }
      String base = n.getName().isEmpty() ? "node" + ordinal : n.getName();
      ordinal++;
      if (base.equals(name)) {
        String d = n.getDomain().isEmpty() ? "ai.onnx" : n.getDomain();
        return Optional.of(d + "::" + n.getOpType() + " '" + n.getName() + "'");
      }
    }
    return Optional.empty();
  }

  static int defaultOpset(ModelProto model) {
    for (OperatorSetIdProto o : model.getOpsetImportList()) {
      if (o.getDomain().isEmpty() || o.getDomain().equals("ai.onnx")) {
        return (int) o.getVersion();
      }
    }
    return 0;
  }

  /** Declared rank of a tensor (graph input, value_info, output or initializer), or -1. */
  static int declaredRank(GraphIndex index, String tensor) {
    GraphProto graph = index.graph();
    for (List<ValueInfoProto> infos :
        List.of(graph.getInputList(), graph.getValueInfoList(), graph.getOutputList())) {
      for (ValueInfoProto v : infos) {
        if (v.getName().equals(tensor)
            && v.getType().hasTensorType()
            && v.getType().getTensorType().hasShape()) {
          return v.getType().getTensorType().getShape().getDimCount();
        }
      }
    }
    return index.initializer(tensor).map(t -> t.getDimsCount()).orElse(-1);
  }

  /**
   * Static size of {@code axis} of a declared tensor (graph input, value_info or output), or -1.
   */
  static long declaredDim(GraphIndex index, String tensor, int axis) {
    GraphProto graph = index.graph();
    for (List<ValueInfoProto> infos :
        List.of(graph.getInputList(), graph.getValueInfoList(), graph.getOutputList())) {
      for (ValueInfoProto v : infos) {
        if (v.getName().equals(tensor) && v.getType().hasTensorType()) {
          List<TensorShapeProto.Dimension> dims =
              v.getType().getTensorType().getShape().getDimList();
          int a = axis < 0 ? dims.size() + axis : axis;
          if (a >= 0 && a < dims.size() && dims.get(a).hasDimValue()) {
            return dims.get(a).getDimValue();
          }
        }
      }
    }
    return index
        .initializer(tensor)
        .map(
            t -> {
              int a = axis < 0 ? t.getDimsCount() + axis : axis;
              return a >= 0 && a < t.getDimsCount() ? t.getDims(a) : -1L;
            })
        .orElse(-1L);
  }

  /**
   * The static last dim of a projection output: declared, or the column count of the weight of the
   * MatMul (possibly followed by a bias Add) that produced it; -1 when neither can be read.
   */
  static long projectionWidth(GraphIndex index, String tensor) {
    long d = declaredDim(index, tensor, -1);
    if (d > 0) {
      return d;
    }
    NodeProto p = index.producer(tensor).orElse(null);
    if (p != null && p.getOpType().equals("Add")) {
      for (String in : p.getInputList()) {
        long w = index.isInitializer(in) ? -1 : projectionWidth(index, in);
        if (w > 0) {
          return w;
        }
      }
      return -1;
    }
    if (p != null && p.getOpType().equals("MatMul") && index.isInitializer(p.getInput(1))) {
      return declaredDim(index, p.getInput(1), -1);
    }
    return -1;
  }
}
