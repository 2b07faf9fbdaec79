package io.headwise.export.quant.rotation;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import io.headwise.graph.AttentionBlock;
import io.headwise.graph.AttentionMap;
import io.headwise.graph.GraphIndex;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * The residual stream of a Llama-family (pre-RMSNorm) graph, followed from the token embedding to
 * the LM head: per sub-layer its RMSNorm, the linears reading the norm, the linear writing back
 * into the stream and, for attention sub-layers, the attention block and its v projection. Anything
 * else reading the stream is refused by name.
 *
 * <p>One class (about 460 lines): it is one walk along the stream from the embedding to the LM
 * head, and its helpers (norm, readers, writer, attention block, v projection) all read the same
 * graph, consumer index and attention map.
 */
final class ResidualStructure {

  /**
   * A linear layer: a MatMul or Gemm whose weight is an initializer (or, for a tied LM head, the
   * Transpose of one).
   *
   * @param node index of the MatMul/Gemm
   * @param weightSlot the node input holding the weight (1)
   * @param weightInitializer the initializer behind the weight
   * @param stored how the initializer is stored relative to the {@code [in, out]} orientation of
   *     {@code y = x·B}
   * @param bias a 1-D initializer added right after the node, or null
   * @param biasNode index of that Add, or -1
   */
  record Linear(
      int node,
      int weightSlot,
      String weightInitializer,
      boolean storedOutIn,
      String bias,
      int biasNode) {}

  /** One pre-norm sub-layer: norm → readers → … → writer → residual Add. */
  record Sublayer(
      RmsNormMatch norm,
      List<Linear> readers,
      Linear writer,
      int residualAdd,
      AttentionBlock block,
      Linear valueProjection) {
    boolean attention() {
      return block != null;
    }
  }

  /** The matched graph. */
  record Matched(
      int embeddingGather,
      String embedding,
      int hidden,
      List<Sublayer> sublayers,
      RmsNormMatch finalNorm,
      List<Linear> heads) {}

  private final GraphProto graph;
  private final GraphIndex index;
  private final AttentionMap map;

  private ResidualStructure(GraphProto graph, AttentionMap map) {
    this.graph = graph;
    this.index = new GraphIndex(graph);
    this.map = map;
  }

  /** Matches {@code graph}, or throws {@link RotationRefusedException} naming what does not fit. */
  static Matched match(GraphProto graph, AttentionMap map) {
    return new ResidualStructure(graph, map).match();
  }

  private Matched match() {
    refuseLayerNorms();
    int gather = -1;
    for (int i = 0; i < graph.getNodeCount(); i++) {
      NodeProto n = graph.getNode(i);
      if (n.getOpType().equals("Gather")
          && index.isGraphInput(n.getInput(1))
          && index
              .initializer(n.getInput(0))
              .map(t -> t.getDimsCount() == 2 && isFloat(t))
              .orElse(false)) {
        if (gather >= 0) {
          throw new RotationRefusedException(
              "more than one embedding Gather reads a graph input ("
                  + RmsNormMatch.name(graph.getNode(gather))
                  + ", "
                  + RmsNormMatch.name(n)
                  + "); rotation supports one token embedding");
        }
        gather = i;
      }
    }
    if (gather < 0) {
      throw new RotationRefusedException(
          "no token embedding (Gather of a 2-D initializer by input_ids)");
    }
    NodeProto g = graph.getNode(gather);
    String embedding = g.getInput(0);
    int hidden = (int) index.initializer(embedding).orElseThrow().getDims(1);
    String h = g.getOutput(0);
    List<Sublayer> sublayers = new ArrayList<>();
    Set<Integer> usedBlocks = new HashSet<>();
    for (int guard = 0; guard < 10_000; guard++) {
      Set<String> aliases = aliases(h);
      RmsNormMatch norm =
          RmsNormMatch.find(index, aliases, hidden)
              .orElseThrow(
                  () ->
                      new RotationRefusedException(
                          "residual stream tensor "
                              + h_(aliases)
                              + " feeds no RMSNorm; rotation needs pre-RMSNorm blocks"));
      List<NodeProto> adds = new ArrayList<>();
      for (String a : aliases) {
        for (NodeProto c : RmsNormMatch.nonShapeConsumers(index, a)) {
          if (c.getOpType().equals("Cast")
              || c.getOpType().equals("Pow")
              || c.getOpType().equals("ReduceMean")
              || belongsToNorm(c, norm, aliases)) {
            continue;
          }
          if (c.getOpType().equals("Add") && c.getInputCount() == 2) {
            adds.add(c);
          } else {
            throw new RotationRefusedException(
                "residual stream tensor "
                    + a
                    + " is read by "
                    + RmsNormMatch.name(c)
                    + " ("
                    + c.getOpType()
                    + "), which a rotation of the stream would change");
          }
        }
      }
      List<Linear> readers = readers(norm);
      if (adds.isEmpty()) {
        return new Matched(gather, embedding, hidden, sublayers, norm, readers);
      }
      if (adds.size() > 1) {
        throw new RotationRefusedException(
            "residual stream tensor "
                + h_(aliases)
                + " is added to "
                + adds.size()
                + " tensors; rotation supports one residual Add per sub-layer");
      }
      NodeProto add = adds.get(0);
      String other = aliases.contains(add.getInput(0)) ? add.getInput(1) : add.getInput(0);
      Linear writer = writer(other, add);
      AttentionBlock block = blockBefore(graph.getNode(writer.node()).getInput(0));
      Linear value = null;
      if (block != null) {
        if (!usedBlocks.add(block.layer())) {
          throw new RotationRefusedException(
              "attention block " + block.layer() + " feeds two residual writers");
        }
        value = valueProjection(block, readers);
      }
      sublayers.add(
          new Sublayer(norm, readers, writer, index.producerIndex(add.getOutput(0)), block, value));
      h = add.getOutput(0);
    }
    throw new RotationRefusedException("the residual stream does not end in an LM head");
  }

  private static String h_(Set<String> aliases) {
    return aliases.iterator().next();
  }

  /**
   * LayerNormalization ops and mean-subtracting norms (ReduceMean → Sub) cannot be rotated exactly.
   */
  private void refuseLayerNorms() {
    for (NodeProto n : graph.getNodeList()) {
      String op = n.getOpType();
      if (op.equals("LayerNormalization")
          || op.equals("SkipLayerNormalization")
          || op.equals("SkipSimplifiedLayerNormalization")) {
        throw new RotationRefusedException(
            "node "
                + RmsNormMatch.name(n)
                + " is a "
                + op
                + " (LayerNorm with bias,"
                + " as in BERT/MiniLM); rotation needs Llama-style RMSNorm, so the model is quantized without rotation");
      }
      if (op.equals("ReduceMean")) {
        for (NodeProto c : index.consumers(n.getOutput(0))) {
          if (c.getOpType().equals("Sub")
              && c.getInput(1).equals(n.getOutput(0))
              && c.getInput(0).equals(n.getInput(0))) {
            throw new RotationRefusedException(
                "node "
                    + RmsNormMatch.name(c)
                    + " subtracts the mean of "
                    + n.getInput(0)
                    + " (a LayerNorm with bias, as in BERT/MiniLM); rotation needs Llama-style RMSNorm,"
                    + " so the model is quantized without rotation");
          }
        }
      }
    }
  }

  /** {@code h} and the outputs of Cast chains reading it. */
  private Set<String> aliases(String h) {
    Set<String> out = new LinkedHashSet<>();
    Deque<String> queue = new ArrayDeque<>();
    out.add(h);
    queue.add(h);
    while (!queue.isEmpty()) {
      String t = queue.poll();
      for (NodeProto c : index.consumers(t)) {
        if ((c.getOpType().equals("Cast") || c.getOpType().equals("Identity"))
            && out.add(c.getOutput(0))) {
          queue.add(c.getOutput(0));
        }
      }
    }
    return out;
  }

  /** Whether {@code c} (a consumer of the stream) is part of the matched norm's own computation. */
  private boolean belongsToNorm(NodeProto c, RmsNormMatch norm, Set<String> aliases) {
    if (c.getOutputCount() == 0) {
      return false;
    }
    if (c.getOutput(0).equals(norm.output())) {
      return true;
    }
    // the Mul(x, 1/rms) or Div(x, rms) and the Mul(x, x) square of the decomposed form
    String op = c.getOpType();
    if (op.equals("Mul")
        && c.getInputCount() == 2
        && aliases.contains(c.getInput(0))
        && aliases.contains(c.getInput(1))) {
      return true;
    }
    if ((op.equals("Mul") || op.equals("Div")) && c.getInputCount() == 2) {
      String t = c.getOutput(0);
      for (int i = 0; i < 4; i++) {
        if (t.equals(norm.output())) {
          return true;
        }
        List<NodeProto> users = RmsNormMatch.nonShapeConsumers(index, t);
        if (users.size() != 1) {
          return false;
        }
        t = users.get(0).getOutput(0);
      }
      return t.equals(norm.output());
    }
    return false;
  }

  private List<Linear> readers(RmsNormMatch norm) {
    List<Linear> out = new ArrayList<>();
    for (NodeProto c : RmsNormMatch.nonShapeConsumers(index, norm.output())) {
      Linear l = linear(c, norm.output());
      if (l == null) {
        throw new RotationRefusedException(
            "the output of norm "
                + norm.weightNode()
                + " is read by "
                + RmsNormMatch.name(c)
                + " ("
                + c.getOpType()
                + "), not by a linear layer with an initializer weight;"
                + " its weight cannot be folded");
      }
      out.add(l);
    }
    if (out.isEmpty()) {
      throw new RotationRefusedException("norm " + norm.weightNode() + " feeds no linear layer");
    }
    return out;
  }

  /** {@code c} as a linear reading {@code input}, or null. */
  private Linear linear(NodeProto c, String input) {
    int node = nodeIndex(c);
    if (c.getOpType().equals("MatMul") && c.getInputCount() == 2 && c.getInput(0).equals(input)) {
      String w = c.getInput(1);
      if (index.initializer(w).map(t -> t.getDimsCount() == 2 && isFloat(t)).orElse(false)) {
        return withBias(new Linear(node, 1, w, false, null, -1), c);
      }
      Optional<NodeProto> p = index.producer(w);
      if (p.isPresent()
          && p.get().getOpType().equals("Transpose")
          && index
              .initializer(p.get().getInput(0))
              .map(t -> t.getDimsCount() == 2 && isFloat(t))
              .orElse(false)) {
        List<Long> perm = GraphIndex.intsAttribute(p.get(), "perm");
        if (perm == null || perm.equals(List.of(1L, 0L))) {
          return withBias(new Linear(node, 1, p.get().getInput(0), true, null, -1), c);
        }
      }
      return null;
    }
    if (c.getOpType().equals("Gemm")
        && c.getInput(0).equals(input)
        && GraphIndex.intAttribute(c, "transA", 0) == 0
        && index
            .initializer(c.getInput(1))
            .map(t -> t.getDimsCount() == 2 && isFloat(t))
            .orElse(false)) {
      if (c.getInputCount() > 2 && !c.getInput(2).isEmpty()) {
        return null;
      }
      return withBias(
          new Linear(
              node, 1, c.getInput(1), GraphIndex.intAttribute(c, "transB", 0) != 0, null, -1),
          c);
    }
    return null;
  }

  private Linear withBias(Linear l, NodeProto node) {
    List<NodeProto> users = RmsNormMatch.nonShapeConsumers(index, node.getOutput(0));
    if (users.size() == 1 && users.get(0).getOpType().equals("Add")) {
      NodeProto add = users.get(0);
      String other = add.getInput(0).equals(node.getOutput(0)) ? add.getInput(1) : add.getInput(0);
      if (index.initializer(other).map(t -> t.getDimsCount() == 1).orElse(false)) {
        return new Linear(
            l.node(),
            l.weightSlot(),
            l.weightInitializer(),
            l.storedOutIn(),
            other,
            nodeIndex(add));
      }
    }
    return l;
  }

  /** The linear whose output (or output + bias) is {@code tensor}, added back by {@code add}. */
  private Linear writer(String tensor, NodeProto add) {
    Optional<NodeProto> p = index.producer(tensor);
    if (p.isPresent() && p.get().getOpType().equals("Add")) {
      NodeProto biasAdd = p.get();
      for (int slot = 0; slot < 2; slot++) {
        String b = biasAdd.getInput(slot);
        String x = biasAdd.getInput(1 - slot);
        if (index.initializer(b).map(t -> t.getDimsCount() == 1).orElse(false)) {
          Optional<NodeProto> mm = index.producer(x);
          if (mm.isPresent()) {
            Linear l = linear(mm.get(), mm.get().getInput(0));
            if (l != null && l.bias() != null) {
              return l;
            }
          }
        }
      }
    }
    if (p.isPresent()) {
      Linear l = linear(p.get(), p.get().getInput(0));
      if (l != null) {
        return l;
      }
    }
    throw new RotationRefusedException(
        "the residual Add "
            + RmsNormMatch.name(add)
            + " adds "
            + tensor
            + ", which is not the output of a linear layer with an initializer weight");
  }

  /**
   * The attention block whose P·V output reaches {@code tensor} through layout ops only, or null.
   */
  private AttentionBlock blockBefore(String tensor) {
    String t = tensor;
    for (int i = 0; i < 8; i++) {
      for (AttentionBlock b : map.blocks()) {
        if (b.outputTensor().equals(t)) {
          return b;
        }
      }
      Optional<NodeProto> p = index.producer(t);
      if (p.isEmpty()
          || !Set.of("Reshape", "Transpose", "Cast", "Identity").contains(p.get().getOpType())) {
        return null;
      }
      t = p.get().getInput(0);
    }
    return null;
  }

  /**
   * The reader whose output becomes the block's V (through reshapes, transposes and GQA repeats).
   */
  private Linear valueProjection(AttentionBlock block, List<Linear> readers) {
    Set<String> seen = new HashSet<>();
    Deque<String> queue = new ArrayDeque<>();
    queue.add(block.valueTensor());
    seen.add(block.valueTensor());
    Set<String> layoutOps =
        Set.of(
            "Reshape",
            "Transpose",
            "Cast",
            "Identity",
            "Unsqueeze",
            "Expand",
            "Concat",
            "Squeeze",
            "Tile",
            "Add");
    while (!queue.isEmpty()) {
      String t = queue.poll();
      for (Linear r : readers) {
        NodeProto n = graph.getNode(r.node());
        String out = r.biasNode() >= 0 ? graph.getNode(r.biasNode()).getOutput(0) : n.getOutput(0);
        if (out.equals(t) || n.getOutput(0).equals(t)) {
          return r;
        }
      }
      Optional<NodeProto> p = index.producer(t);
      if (p.isPresent() && layoutOps.contains(p.get().getOpType())) {
        for (String in : p.get().getInputList()) {
          if (!in.isEmpty() && !index.isInitializer(in) && seen.add(in)) {
            queue.add(in);
          }
        }
      }
    }
    throw new RotationRefusedException(
        "cannot trace V of attention block "
            + block.layer()
            + " ("
            + block.valueTensor()
            + ") back to a linear layer reading the block's norm");
  }

  private int nodeIndex(NodeProto n) {
    return index.producerIndex(n.getOutput(0));
  }

  private static boolean isFloat(TensorProto t) {
    return t.getDataType() == TensorProto.DataType.FLOAT_VALUE
        || t.getDataType() == TensorProto.DataType.FLOAT16_VALUE;
  }
}
