package io.headwise.graph;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.TypeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.UnaryOperator;

/**
 * Builds, at test time, a merged decoder in the layout Hugging Face Optimum writes ({@code
 * decoder_model_merged.onnx}) from an Optimum-style decoder with past inputs: one {@code If} on a
 * boolean input {@code use_cache_branch}, whose then-branch is the decoder reading {@code
 * past_key_values.*} and whose else-branch computes the whole sequence without them (its past is an
 * empty {@code [batch, kv heads, 0, head dim]} tensor, as Optimum's no-cache decoder has none); the
 * weights are initializers of the main graph, read by both branches from the outer scope.
 */
public final class MergedDecoders {
  public static final String CONDITION = "use_cache_branch";

  private MergedDecoders() {}

  /** Writes the merged form of {@code withPast} to {@code out}. */
  public static Path write(Path withPast, Path out) throws IOException {
    return write(withPast, out, UnaryOperator.identity());
  }

  /**
   * Like {@link #write(Path, Path)}, with {@code editCacheBranch} applied to the cache branch (to
   * build a file whose branches disagree).
   */
  public static Path write(Path withPast, Path out, UnaryOperator<GraphProto> editCacheBranch)
      throws IOException {
    ModelProto past = OnnxModel.load(withPast).proto();
    GraphProto g = past.getGraph();
    Set<String> outer = new HashSet<>();
    g.getInputList().forEach(v -> outer.add(v.getName()));
    g.getInitializerList().forEach(t -> outer.add(t.getName()));

    GraphProto cache = editCacheBranch.apply(branch(g, "cache/", outer));

    GraphProto.Builder noCache = GraphProto.newBuilder();
    Set<String> noPast = new HashSet<>(outer);
    for (ValueInfoProto in : g.getInputList()) {
      if (in.getName().startsWith("past_key_values")) {
        noPast.remove(in.getName());
        noCache.addAllNode(emptyPast(in, "nocache/"));
      }
    }
    GraphProto rest = branch(g, "nocache/", noPast);
    noCache.addAllNode(rest.getNodeList()).addAllOutput(rest.getOutputList()).setName("no_cache");

    GraphProto.Builder top =
        GraphProto.newBuilder()
            .setName("merged")
            .addAllInput(g.getInputList())
            .addInput(
                ValueInfoProto.newBuilder()
                    .setName(CONDITION)
                    .setType(
                        TypeProto.newBuilder()
                            .setTensorType(
                                TypeProto.Tensor.newBuilder()
                                    .setElemType(TensorProto.DataType.BOOL_VALUE)
                                    .setShape(
                                        TensorShapeProto.newBuilder()
                                            .addDim(
                                                TensorShapeProto.Dimension.newBuilder()
                                                    .setDimValue(1))))))
            .addAllInitializer(g.getInitializerList())
            .addAllOutput(g.getOutputList());
    NodeProto.Builder ifNode =
        NodeProto.newBuilder().setOpType("If").setName("optimum::if").addInput(CONDITION);
    g.getOutputList().forEach(v -> ifNode.addOutput(v.getName()));
    ifNode.addAttribute(
        AttributeProto.newBuilder()
            .setName("then_branch")
            .setType(AttributeProto.AttributeType.GRAPH)
            .setG(cache));
    ifNode.addAttribute(
        AttributeProto.newBuilder()
            .setName("else_branch")
            .setType(AttributeProto.AttributeType.GRAPH)
            .setG(noCache));
    top.addNode(ifNode);
    Files.createDirectories(out.toAbsolutePath().getParent());
    try (OutputStream o = Files.newOutputStream(out)) {
      past.toBuilder().setGraph(top).build().writeTo(o);
    }
    return out;
  }

  /**
   * The decoder's nodes as a branch: every name it produces gets {@code prefix} (names must be
   * unique across a model's scopes), names in {@code outer} stay (read from the main graph), and
   * the branch outputs are the prefixed graph outputs.
   */
  private static GraphProto branch(GraphProto g, String prefix, Set<String> outer) {
    UnaryOperator<String> name = s -> s.isEmpty() || outer.contains(s) ? s : prefix + s;
    GraphProto.Builder b = GraphProto.newBuilder().setName(prefix + "branch");
    for (NodeProto n : g.getNodeList()) {
      NodeProto.Builder r = n.toBuilder().setName(prefix + n.getName());
      for (int i = 0; i < n.getInputCount(); i++) {
        r.setInput(i, name.apply(n.getInput(i)));
      }
      for (int i = 0; i < n.getOutputCount(); i++) {
        r.setOutput(i, name.apply(n.getOutput(i)));
      }
      b.addNode(r);
    }
    for (ValueInfoProto v : g.getOutputList()) {
      b.addOutput(v.toBuilder().setName(name.apply(v.getName())));
    }
    return b.build();
  }

  /** {@code [batch of input_ids, kv heads, 0, head dim]} zeros named {@code prefix + past}. */
  private static List<NodeProto> emptyPast(ValueInfoProto past, String prefix) {
    List<TensorShapeProto.Dimension> dims = past.getType().getTensorType().getShape().getDimList();
    long heads = dims.get(1).getDimValue();
    long headDim = dims.get(3).getDimValue();
    String p = prefix + past.getName();
    TensorProto rest = Tensors.longVector(p + "/rest", heads, 0, headDim);
    TensorProto zero = Tensors.floats(p + "/zero", new long[] {1}, 0f);
    return List.of(
        NodeProto.newBuilder()
            .setOpType("Shape")
            .setName(p + "/shape")
            .addInput("input_ids")
            .addOutput(p + "/ids_shape")
            .addAttribute(
                AttributeProto.newBuilder()
                    .setName("end")
                    .setType(AttributeProto.AttributeType.INT)
                    .setI(1))
            .build(),
        NodeProto.newBuilder()
            .setOpType("Constant")
            .setName(p + "/rest_const")
            .addOutput(p + "/rest")
            .addAttribute(
                AttributeProto.newBuilder()
                    .setName("value")
                    .setType(AttributeProto.AttributeType.TENSOR)
                    .setT(rest))
            .build(),
        NodeProto.newBuilder()
            .setOpType("Concat")
            .setName(p + "/dims")
            .addInput(p + "/ids_shape")
            .addInput(p + "/rest")
            .addOutput(p + "/dims")
            .addAttribute(
                AttributeProto.newBuilder()
                    .setName("axis")
                    .setType(AttributeProto.AttributeType.INT)
                    .setI(0))
            .build(),
        NodeProto.newBuilder()
            .setOpType("ConstantOfShape")
            .setName(p + "/empty")
            .addInput(p + "/dims")
            .addOutput(p)
            .addAttribute(
                AttributeProto.newBuilder()
                    .setName("value")
                    .setType(AttributeProto.AttributeType.TENSOR)
                    .setT(zero))
            .build());
  }
}
