package io.headwise.export.attention;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import io.headwise.graph.AttentionBlock;
import io.headwise.graph.AttentionMap;
import io.headwise.graph.FunctionInliner;
import io.headwise.graph.GraphBuilder;
import io.headwise.graph.GraphIndex;
import io.headwise.graph.OnnxModel;
import io.headwise.graph.Tensors;
import io.headwise.schemas.HeadwiseException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;

/**
 * Replaces each attention core of a graph (QKᵀ → softmax → ·V) by one {@code HeadwiseAttention}
 * node that writes the core's output tensor, then removes the nodes nothing reads any more and adds
 * the function and its opset import.
 *
 * <p>K and V: when a layer has fewer kv heads than query heads and both K and V come out of the
 * transformers {@code repeat_kv} pattern (Unsqueeze at axis 2 → Expand → Reshape), the op reads the
 * tensors before the repeat (num_kv_heads heads) with kv_heads[h] = ⌊h / g⌋; otherwise it reads the
 * tensors the core read, expanded to one per query head ({@code Expand} to [1, H, 1, 1], a no-op
 * broadcast for repeated tensors, a copy for a broadcast single kv head), with kv_heads[h] = h.
 */
final class AttentionCoreRewriter {
  /** How a layer's K/V inputs were found. */
  enum KvSource {
    /** num_kv_heads = num_heads: K and V are read as the core read them. */
    DIRECT,
    /** GQA, K and V read before repeat_kv (num_kv_heads heads), kv_heads[h] = ⌊h / g⌋. */
    PRE_REPEAT,
    /**
     * GQA, repeat_kv not recognised: the (repeated or broadcast) K and V expanded to H heads,
     * kv_heads[h] = h.
     */
    REPEATED
  }

  /** The rewritten model and how each layer's K/V were read. */
  record Result(ModelProto proto, List<KvSource> kvSources) {}

  private static final String PREFIX = "hw_attn/";

  /** Attention element types the op is exported for: float32 as is, the others between Casts. */
  private static final Set<Integer> COMPUTED_IN_FLOAT =
      Set.of(GraphBuilder.FLOAT, GraphBuilder.FLOAT16, GraphBuilder.BFLOAT16);

  private AttentionCoreRewriter() {}

  static Result rewrite(OnnxModel model, AttentionMap map, List<LayerPlan> plans) {
    int opset = model.opset();
    ModelProto proto = FunctionInliner.inline(model.proto());
    for (OperatorSetIdProto o : proto.getOpsetImportList()) {
      if (o.getDomain().equals(HeadwiseAttentionOp.DOMAIN)) {
        throw new HeadwiseException(
            "model "
                + model.source()
                + " already imports domain "
                + HeadwiseAttentionOp.DOMAIN
                + " (it is an exported HeadwiseAttention model); export from the original model");
      }
    }
    GraphProto graph = proto.getGraph();
    GraphIndex index = new GraphIndex(graph);
    Map<String, Integer> nodeByName = new HashMap<>();
    Set<String> duplicateNames = new HashSet<>();
    for (int i = 0; i < graph.getNodeCount(); i++) {
      String name = graph.getNode(i).getName();
      if (!name.isEmpty() && nodeByName.put(name, i) != null) {
        duplicateNames.add(name);
      }
    }
    Map<Integer, List<NodeProto>> inserted = new HashMap<>();
    Map<String, String> replayed = new HashMap<>();
    // one zero scalar per element type a score path replays in; float32 always (the no-mask case)
    Map<Integer, TensorProto> zeros = new TreeMap<>();
    zeros.put(GraphBuilder.FLOAT, Tensors.floatScalar(zeroName(GraphBuilder.FLOAT), 0f));
    ScoreMask masks =
        new ScoreMask(
            index,
            type -> zeros.computeIfAbsent(type, t -> Tensors.zeroScalar(zeroName(t), t)).getName(),
            replayed);
    List<KvSource> sources = new ArrayList<>();
    List<TensorProto> extraInitializers = new ArrayList<>();
    for (AttentionBlock block : map.blocks()) {
      LayerPlan plan = plans.get(block.layer());
      int elemType = block.probabilitiesType().code();
      if (!COMPUTED_IN_FLOAT.contains(elemType)) {
        throw refuse(
            block,
            "its attention runs in ONNX element type "
                + elemType
                + "; HeadwiseAttention is exported for float32, float16 and bfloat16 attention");
      }
      if (Double.isNaN(block.scale()) || Double.isInfinite(block.scale())) {
        throw refuse(block, "its score scale could not be read");
      }
      int pv = index.producerIndex(block.outputTensor());
      if (pv < 0 || inserted.containsKey(pv)) {
        throw refuse(
            block, "its output " + block.outputTensor() + " has no producing node of its own");
      }
      Integer qkIndex = nodeByName.get(block.qkMatMulNode());
      if (qkIndex == null || duplicateNames.contains(block.qkMatMulNode())) {
        throw refuse(
            block, "its QK node '" + block.qkMatMulNode() + "' is not uniquely named in the graph");
      }
      String qkOutput = graph.getNode(qkIndex).getOutput(0);
      List<NodeProto> before = new ArrayList<>();
      String key = keyOperand(index, block, before);
      String value = block.valueTensor();
      KvSource source = KvSource.DIRECT;
      long[] kvHeads = new long[block.numHeads()];
      for (int h = 0; h < kvHeads.length; h++) {
        kvHeads[h] = h;
      }
      if (block.numKvHeads() < block.numHeads()) {
        String keyKv = beforeRepeat(index, key);
        String valueKv = beforeRepeat(index, value);
        if (keyKv != null && valueKv != null) {
          key = keyKv;
          value = valueKv;
          source = KvSource.PRE_REPEAT;
          for (int h = 0; h < kvHeads.length; h++) {
            kvHeads[h] = block.kvHeadOf(h);
          }
        } else {
          // Already repeated (or broadcast, e.g. MQA with one kv head): expand to H heads, identity
          // kv_heads.
          String heads = PREFIX + "heads_" + block.numHeads();
          if (extraInitializers.stream().noneMatch(t -> t.getName().equals(heads))) {
            extraInitializers.add(Tensors.longVector(heads, 1, block.numHeads(), 1, 1));
          }
          key = expand(key, heads, block, "key_heads", before);
          value = expand(value, heads, block, "value_heads", before);
          source = KvSource.REPEATED;
        }
      }
      String mask = masks.additiveMask(block, qkOutput);
      double softcap = masks.softcap();
      before.addAll(masks.emitted());
      String query = block.queryTensor();
      String output = block.outputTensor();
      if (elemType != GraphBuilder.FLOAT) {
        // HeadwiseAttention computes in float32 (as the models' own softmax does in fp16 exports);
        // the graph around it keeps the model's element type.
        query = cast(query, GraphBuilder.FLOAT, block, "query_f32", before);
        key = cast(key, GraphBuilder.FLOAT, block, "key_f32", before);
        value = cast(value, GraphBuilder.FLOAT, block, "value_f32", before);
        output = PREFIX + "layer" + block.layer() + "/output_f32";
      }
      before.add(opNode(block, plan, kvHeads, softcap, query, key, value, mask, output));
      if (elemType != GraphBuilder.FLOAT) {
        before.add(
            castNode(
                output,
                elemType,
                block.outputTensor(),
                PREFIX + "layer" + block.layer() + "/output_cast"));
      }
      inserted.put(pv, before);
      sources.add(source);
    }
    List<NodeProto> nodes = new ArrayList<>(graph.getNodeCount());
    for (int i = 0; i < graph.getNodeCount(); i++) {
      List<NodeProto> replacement = inserted.get(i);
      if (replacement != null) {
        nodes.addAll(replacement);
      } else {
        nodes.add(graph.getNode(i));
      }
    }
    GraphProto.Builder g =
        graph.toBuilder()
            .clearNode()
            .addAllNode(nodes)
            .addAllInitializer(zeros.values())
            .addAllInitializer(extraInitializers);
    GraphPruner.prune(g);
    ModelProto.Builder out =
        proto.toBuilder()
            .setGraph(g)
            .addOpsetImport(
                OperatorSetIdProto.newBuilder()
                    .setDomain(HeadwiseAttentionOp.DOMAIN)
                    .setVersion(HeadwiseAttentionOp.VERSION))
            .addFunctions(HeadwiseAttentionFunction.build(opset));
    // FunctionProto.attribute_proto (attribute defaults) exists from IR version 9.
    out.setIrVersion(Math.max(out.getIrVersion(), 9));
    return new Result(out.build(), List.copyOf(sources));
  }

  /** The HeadwiseAttention node of one layer. */
  private static NodeProto opNode(
      AttentionBlock block,
      LayerPlan plan,
      long[] kvHeads,
      double softcap,
      String query,
      String key,
      String value,
      String mask,
      String output) {
    String base = block.softmaxNode();
    int slash = base.lastIndexOf('/');
    String name =
        slash > 0
            ? base.substring(0, slash + 1) + HeadwiseAttentionOp.OP_TYPE
            : PREFIX + "layer" + block.layer() + "/" + HeadwiseAttentionOp.OP_TYPE;
    int heads = block.numHeads();
    NodeProto.Builder node = NodeProto.newBuilder();
    if (softcap > 0) {
      // only when the model soft-caps, so that other exports keep their attribute lists
      node.addAttribute(
          tensor(HeadwiseAttentionOp.ATTR_SOFTCAP, Tensors.floatScalar("", (float) softcap)));
    }
    return node.setOpType(HeadwiseAttentionOp.OP_TYPE)
        .setDomain(HeadwiseAttentionOp.DOMAIN)
        .setName(name)
        .addInput(query)
        .addInput(key)
        .addInput(value)
        .addInput(mask)
        .addOutput(output)
        .setDocString(
            "layer "
                + block.layer()
                + ": "
                + heads
                + " query heads, "
                + block.numKvHeads()
                + " kv heads, head dim "
                + block.headDim())
        .addAttribute(tensor(HeadwiseAttentionOp.ATTR_KINDS, Tensors.longVector("", plan.kinds())))
        .addAttribute(
            tensor(HeadwiseAttentionOp.ATTR_SINK_TOKENS, Tensors.longVector("", plan.sinkTokens())))
        .addAttribute(
            tensor(
                HeadwiseAttentionOp.ATTR_ALPHA,
                Tensors.floats("", new long[] {heads}, plan.alpha())))
        .addAttribute(
            tensor(
                HeadwiseAttentionOp.ATTR_BETA, Tensors.floats("", new long[] {heads}, plan.beta())))
        .addAttribute(
            tensor(
                HeadwiseAttentionOp.ATTR_BUDGET_TOKENS,
                Tensors.longVector("", plan.budgetTokens())))
        .addAttribute(
            tensor(
                HeadwiseAttentionOp.ATTR_RECENT_TOKENS,
                Tensors.longVector("", plan.recentTokens())))
        .addAttribute(
            tensor(
                HeadwiseAttentionOp.ATTR_BUDGET_GROUPS,
                Tensors.longVector("", plan.budgetGroups())))
        .addAttribute(
            tensor(
                HeadwiseAttentionOp.ATTR_COMPENSATION, Tensors.longVector("", plan.compensation())))
        .addAttribute(tensor(HeadwiseAttentionOp.ATTR_KV_HEADS, Tensors.longVector("", kvHeads)))
        .addAttribute(
            tensor(HeadwiseAttentionOp.ATTR_SCALE, Tensors.floatScalar("", (float) block.scale())))
        .addAttribute(
            tensor(HeadwiseAttentionOp.ATTR_CAUSAL, Tensors.longScalar("", block.causal() ? 1 : 0)))
        .build();
  }

  /** The zero scalar of an element type ({@code hw_attn/zero} for float32, as before fp16). */
  private static String zeroName(int elemType) {
    return elemType == GraphBuilder.FLOAT ? PREFIX + "zero" : PREFIX + "zero_t" + elemType;
  }

  /** Cast(x, to) as a new tensor of the layer. */
  private static String cast(
      String x, int to, AttentionBlock block, String hint, List<NodeProto> before) {
    String out = PREFIX + "layer" + block.layer() + "/" + hint;
    before.add(castNode(x, to, out, out));
    return out;
  }

  private static NodeProto castNode(String x, int to, String out, String name) {
    return NodeProto.newBuilder()
        .setOpType("Cast")
        .setName(name)
        .addInput(x)
        .addOutput(out)
        .addAttribute(GraphBuilder.intAttr("to", to))
        .build();
  }

  /** Expand(x, [1, H, 1, 1]): x with H heads whether it has H or 1. */
  private static String expand(
      String x, String heads, AttentionBlock block, String hint, List<NodeProto> before) {
    String out = PREFIX + "layer" + block.layer() + "/" + hint;
    before.add(
        NodeProto.newBuilder()
            .setOpType("Expand")
            .setName(out)
            .addInput(x)
            .addInput(heads)
            .addOutput(out)
            .build());
    return out;
  }

  private static AttributeProto tensor(String name, TensorProto t) {
    return GraphBuilder.tensorAttr(name, t);
  }

  /**
   * K [B, H(kv), Tk, D] for the op: the QK node's second input when it transposes it itself, else
   * the input of the Transpose that made Kᵀ (composing the permutations; a new Transpose is added
   * to {@code before} when the composed permutation is not the identity), else a new Transpose of
   * Kᵀ.
   */
  private static String keyOperand(GraphIndex index, AttentionBlock block, List<NodeProto> before) {
    String kt = block.keyTransposedTensor();
    if (block.qkTransposesKey()) {
      return kt;
    }
    long[] swapLast = {0, 1, 3, 2};
    String source = kt;
    long[] perm = swapLast;
    Optional<NodeProto> p = index.producer(kt);
    if (p.isPresent() && p.get().getOpType().equals("Transpose") && p.get().getDomain().isEmpty()) {
      List<Long> inner = GraphIndex.intsAttribute(p.get(), "perm");
      long[] innerPerm =
          inner == null
              ? new long[] {3, 2, 1, 0}
              : inner.stream().mapToLong(Long::longValue).toArray();
      if (innerPerm.length == 4) {
        perm = new long[4];
        for (int i = 0; i < 4; i++) {
          perm[i] = innerPerm[(int) swapLast[i]];
        }
        source = p.get().getInput(0);
      }
    }
    if (Arrays.equals(perm, new long[] {0, 1, 2, 3})) {
      return source;
    }
    String out = PREFIX + "layer" + block.layer() + "/key";
    before.add(
        NodeProto.newBuilder()
            .setOpType("Transpose")
            .setName(out)
            .addInput(source)
            .addOutput(out)
            .addAttribute(GraphBuilder.intsAttr("perm", perm))
            .build());
    return out;
  }

  /**
   * The tensor before a transformers repeat_kv ({@code Reshape(Expand(Unsqueeze(x, axes=[2])))})
   * that produced {@code repeated}, or null when {@code repeated} is not made that way.
   */
  static String beforeRepeat(GraphIndex index, String repeated) {
    Optional<NodeProto> reshape =
        index.producer(repeated).filter(n -> n.getOpType().equals("Reshape"));
    if (reshape.isEmpty()) {
      return null;
    }
    Optional<NodeProto> expand =
        index.producer(reshape.get().getInput(0)).filter(n -> n.getOpType().equals("Expand"));
    if (expand.isEmpty()) {
      return null;
    }
    Optional<NodeProto> unsqueeze =
        index.producer(expand.get().getInput(0)).filter(n -> n.getOpType().equals("Unsqueeze"));
    if (unsqueeze.isEmpty()) {
      return null;
    }
    NodeProto u = unsqueeze.get();
    List<Long> axes = GraphIndex.intsAttribute(u, "axes");
    if (axes == null && u.getInputCount() > 1) {
      double[] values = index.constantValues(u.getInput(1));
      axes = values == null ? null : Arrays.stream(values).mapToObj(v -> (long) v).toList();
    }
    return axes != null && axes.size() == 1 && axes.get(0) == 2 ? u.getInput(0) : null;
  }

  /** The refusal of layer {@code block}'s rewrite (also raised by {@link ScoreMask}). */
  static HeadwiseException refuse(AttentionBlock block, String why) {
    return new HeadwiseException(
        "cannot rewrite attention layer "
            + block.layer()
            + " (softmax "
            + block.softmaxNode()
            + ") as HeadwiseAttention: "
            + why);
  }
}
