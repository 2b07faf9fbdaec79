package io.headwise.export.attention;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.FunctionProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import io.headwise.export.attention.DecodeGraphExporter.DecodeGraph;
import io.headwise.export.attention.DecodeGraphExporter.LayerTensors;
import io.headwise.export.attention.DecodeOps.CoreInputs;
import io.headwise.graph.GraphBuilder;
import io.headwise.graph.ModelInputs;
import io.headwise.graph.OnnxModel;
import io.headwise.graph.Tensors;
import io.headwise.schemas.HeadwiseException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Turns a model whose attention cores are HeadwiseAttention nodes into the decode graph: each core
 * is replaced by the attention of its cache groups ({@link WindowedCacheAttention}, {@link
 * BudgetCacheAttention}) with the heads put back in model order, the model's own present outputs
 * and past inputs give way to the groups' caches ({@link DecodeCacheIo}), and the function and
 * domain import of the op are dropped. The checks that the plan fits the decoder stay in {@link
 * DecodeGraphExporter}; this class only rebuilds the graph.
 */
final class DecodeGraphAssembler {
  private DecodeGraphAssembler() {}

  static DecodeGraph build(
      OnnxModel decoder,
      ModelProto proto,
      List<LayerPlan> plans,
      ModelInputs inputs,
      String planId) {
    GraphProto graph = proto.getGraph();
    Map<String, NodeProto> producers = new HashMap<>();
    for (NodeProto n : graph.getNodeList()) {
      for (String o : n.getOutputList()) {
        producers.put(o, n);
      }
    }
    List<NodeProto> ops =
        graph.getNodeList().stream()
            .filter(n -> n.getOpType().equals(HeadwiseAttentionOp.OP_TYPE))
            .toList();
    if (ops.size() != plans.size()) {
      throw new HeadwiseException(
          "model "
              + decoder.source()
              + " has "
              + ops.size()
              + " attention cores for "
              + plans.size()
              + " planned layers");
    }
    int opset = decoder.opset();
    BodyBuilder shared = new BodyBuilder(opset, DecodeGraphExporter.PREFIX);
    String positionIds = inputs.positionIds().orElseThrow();
    // Positions of the new tokens, as int64 [S] (batch rows decode in lockstep: row 0's positions).
    String newPositions =
        shared.op(
            "Gather",
            "new_positions",
            List.of(shared.cast(positionIds, GraphBuilder.INT64), shared.longScalar("row0", 0)),
            GraphBuilder.intAttr("axis", 0));
    String queryPos =
        shared.reshape(shared.cast(newPositions, GraphBuilder.FLOAT), -1, 1); // [S, 1]
    String nextPos =
        shared.op(
            "Add",
            "next_position",
            shared.reduceMaxAll(shared.cast(newPositions, GraphBuilder.FLOAT)),
            shared.floatScalar("one", 1f)); // scalar: the position of the next token

    Map<NodeProto, List<NodeProto>> replacements = new LinkedHashMap<>();
    List<DecodeCacheGroup> groups = new ArrayList<>();
    DecodeCacheIo io = new DecodeCacheIo();
    List<LayerTensors> layerTensors = new ArrayList<>();
    long headDim = inputs.pastInputs().get(0).headDim();
    for (int l = 0; l < ops.size(); l++) {
      NodeProto op = ops.get(l);
      Map<String, double[]> attrs = new HashMap<>();
      for (AttributeProto a : op.getAttributeList()) {
        attrs.put(a.getName(), Tensors.toDoubles(a.getT()));
      }
      double[] softcap = attrs.get(HeadwiseAttentionOp.ATTR_SOFTCAP);
      if (softcap != null && softcap[0] != 0) {
        // The decode caches, merge slots and budget scores read raw scale·q·kᵀ logits; soft-capping
        // would have to be applied in each of them, so it is refused rather than silently dropped.
        throw new HeadwiseException(
            "attention layer "
                + l
                + " soft-caps its scores (softcap="
                + softcap[0]
                + "); decode graphs (export --decode) do not apply softcap; export without"
                + " --decode (the prefill export applies it)");
      }
      double[] kvHeads = attrs.get(HeadwiseAttentionOp.ATTR_KV_HEADS);
      float scale = (float) attrs.get(HeadwiseAttentionOp.ATTR_SCALE)[0];
      CoreInputs in =
          new CoreInputs(
              op.getInput(0),
              newTokens(producers, op.getInput(1), decoder, l, "key"),
              newTokens(producers, op.getInput(2), decoder, l, "value"),
              kvHeads,
              scale);
      List<DecodeCacheGroup> layerGroups = DecodeCacheGroups.of(plans.get(l), kvHeads, l, planId);
      long[] kvMap = new long[kvHeads.length];
      for (int h = 0; h < kvMap.length; h++) {
        kvMap[h] = (long) kvHeads[h];
      }
      layerTensors.add(
          new LayerTensors(in.query(), in.newKey(), in.newValue(), scale, kvMap, op.getOutput(0)));
      BodyBuilder b = new BodyBuilder(opset, DecodeGraphExporter.PREFIX + "layer" + l + "/");
      List<String> outs = new ArrayList<>();
      List<Integer> order = new ArrayList<>();
      for (DecodeCacheGroup g : layerGroups) {
        outs.add(
            g.budget()
                ? BudgetCacheAttention.attend(b, g, in)
                : WindowedCacheAttention.attend(b, g, in, newPositions, queryPos, nextPos));
        order.addAll(g.queryHeads());
        io.declare(g, headDim);
      }
      groups.addAll(layerGroups);
      b.node("Identity", List.of(inModelOrder(b, outs, order)), List.of(op.getOutput(0)));
      replacements.put(op, b.nodes());
    }
    List<NodeProto> nodes = new ArrayList<>(shared.nodes());
    for (NodeProto n : graph.getNodeList()) {
      List<NodeProto> r = replacements.get(n);
      nodes.addAll(r != null ? r : List.of(n));
    }
    GraphProto.Builder g = graph.toBuilder().clearNode().addAllNode(nodes);
    List<ValueInfoProto> keptOutputs =
        graph.getOutputList().stream().filter(o -> !o.getName().startsWith("present")).toList();
    g.clearOutput().addAllOutput(keptOutputs).addAllOutput(io.outputs());
    GraphPruner.prune(g);
    List<ValueInfoProto> keptInputs = keptInputs(graph, g, inputs);
    g.clearInput().addAllInput(keptInputs).addAllInput(io.inputs());
    return new DecodeGraph(
        withoutHeadwiseOp(proto, g), List.copyOf(groups), positionIds, List.copyOf(layerTensors));
  }

  /**
   * The groups' outputs [B, Hq_g, S, Dv] joined along the head axis and put back in the model's
   * head order ({@code order}: the query heads of the joined tensor).
   */
  private static String inModelOrder(BodyBuilder b, List<String> outs, List<Integer> order) {
    String joined =
        outs.size() == 1
            ? outs.get(0)
            : b.op("Concat", "heads", outs, GraphBuilder.intAttr("axis", 1));
    long[] inverse = new long[order.size()];
    boolean identity = true;
    for (int i = 0; i < order.size(); i++) {
      inverse[order.get(i)] = i;
      identity &= order.get(i) == i;
    }
    return identity ? joined : b.gather("head_order", joined, b.longVector("inverse", inverse), 1);
  }

  /**
   * The model's inputs a pruned graph still reads, without its own past key/value inputs (the
   * groups' caches replace them).
   */
  private static List<ValueInfoProto> keptInputs(
      GraphProto graph, GraphProto.Builder pruned, ModelInputs inputs) {
    Set<String> pastNames = new HashSet<>();
    inputs.pastInputs().forEach(p -> pastNames.add(p.name()));
    Set<String> read = new HashSet<>();
    for (NodeProto n : pruned.getNodeList()) {
      read.addAll(n.getInputList());
      for (AttributeProto a : n.getAttributeList()) {
        if (a.hasG()) {
          a.getG().getNodeList().forEach(x -> read.addAll(x.getInputList()));
        }
      }
    }
    pruned.getOutputList().forEach(o -> read.add(o.getName()));
    return graph.getInputList().stream()
        .filter(v -> !pastNames.contains(v.getName()) && read.contains(v.getName()))
        .toList();
  }

  /** No HeadwiseAttention node is left: drop its function and domain import. */
  private static ModelProto withoutHeadwiseOp(ModelProto proto, GraphProto.Builder graph) {
    ModelProto.Builder out = proto.toBuilder().setGraph(graph).clearFunctions();
    List<OperatorSetIdProto> imports =
        proto.getOpsetImportList().stream()
            .filter(o -> !o.getDomain().equals(HeadwiseAttentionOp.DOMAIN))
            .toList();
    out.clearOpsetImport().addAllOpsetImport(imports);
    for (FunctionProto f : proto.getFunctionsList()) {
      if (!f.getDomain().equals(HeadwiseAttentionOp.DOMAIN)) {
        out.addFunctions(f);
      }
    }
    return out.build();
  }

  /**
   * The K or V of the new tokens: the second input of the {@code Concat(past, new)} that made the
   * present cache.
   */
  private static String newTokens(
      Map<String, NodeProto> producers, String present, OnnxModel decoder, int layer, String what) {
    NodeProto concat = producers.get(present);
    if (concat == null || !concat.getOpType().equals("Concat") || concat.getInputCount() != 2) {
      throw new HeadwiseException(
          "cannot find how layer "
              + layer
              + " of "
              + decoder.source()
              + " appends the new "
              + what
              + "s to its past cache (expected Concat(past, new) feeding the attention); export the decoder with"
              + " the transformers KV-cache layout");
    }
    return concat.getInput(1);
  }
}
