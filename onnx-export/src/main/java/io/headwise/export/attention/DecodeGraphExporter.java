package io.headwise.export.attention;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.TypeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import io.headwise.graph.AttentionBlock;
import io.headwise.graph.AttentionMap;
import io.headwise.graph.GraphBuilder;
import io.headwise.graph.ModelInputs;
import io.headwise.graph.OnnxModel;
import io.headwise.graph.Tensors;
import io.headwise.schemas.HeadwiseException;
import io.headwise.schemas.PlanMeta;
import io.headwise.schemas.PlanRow;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Decode graphs whose KV caches follow a plan (docs/decode.md): from a decoder exported with a KV
 * cache (Optimum-style {@code past_key_values.<l>.key|value} inputs, {@code present.<l>.key|value}
 * outputs and {@code position_ids}), every attention core attends over per-group caches that hold
 * only what the plan keeps: full groups keep every token, streaming/elastic groups keep their sinks
 * plus the keys the next query's window reaches (the cache never holds more than sink + ⌈span⌉ − 1
 * tokens). Each cache carries the absolute positions of its entries, so the keep rule of the
 * prefill simulation (docs/headwise-attention.md) is applied exactly, for a prompt chunk of any
 * length and for single decode steps alike.
 *
 * <p>The plan is checked against the model it was made for (usually the same network exported
 * without a cache): its id must be that model's and the two models must hold the same weights.
 */
public final class DecodeGraphExporter {
  static final String PREFIX = "headwise/decode/";

  /**
   * The rewritten model, its cache groups (in input order) and per layer the tensors its attention
   * reads (for tests and engines that want to check a policy against the model's own Q, K and V).
   */
  public record DecodeGraph(
      ModelProto proto,
      List<DecodeCacheGroup> groups,
      String positionIds,
      List<LayerTensors> layers) {}

  /**
   * Per layer: Q [B, H, S, D] (unscaled), K and V of the new tokens [B, Hkv, S, D], the score
   * scale, kv_heads, and the attention output [B, H, S, Dv] (before the output projection).
   */
  public record LayerTensors(
      String query, String newKey, String newValue, float scale, long[] kvHeads, String output) {}

  private DecodeGraphExporter() {}

  /**
   * The decode graph of {@code decoder} (a model with past key/value inputs) under a plan made for
   * {@code planModel} (the same weights; may be {@code decoder} itself).
   */
  public static DecodeGraph rewrite(
      OnnxModel decoder, AttentionMap map, OnnxModel planModel, PlanMeta meta, List<PlanRow> rows) {
    ModelInputs inputs = ModelInputs.of(decoder.graph());
    if (inputs.pastInputs().isEmpty() || inputs.positionIds().isEmpty()) {
      throw new HeadwiseException(
          "model "
              + decoder.source()
              + " has no "
              + (inputs.pastInputs().isEmpty() ? "past key/value inputs" : "position_ids input")
              + "; a decode graph is made from a decoder exported"
              + " with its KV cache (Optimum: optimum-cli export onnx --task text-generation-with-past; torch.onnx.export"
              + " with use_cache=True, past_key_values.<l>.key/value inputs, present.<l>.key/value outputs and"
              + " position_ids)");
    }
    for (AttentionBlock b : map.blocks()) {
      // The caches, merge slots and scores are built as float32 tensors; a float16 decoder would
      // need them in its own type (the prefill export handles float16 between Casts).
      if (b.probabilitiesElemType() != GraphBuilder.FLOAT) {
        throw new HeadwiseException(
            "model "
                + decoder.source()
                + " runs attention layer "
                + b.layer()
                + " in ONNX element type "
                + b.probabilitiesElemType()
                + "; decode graphs are exported for float32 decoders only (plain `export` handles"
                + " float16/bfloat16 models); export the decoder in float32 for --decode");
      }
    }
    if (!meta.modelId().equals(planModel.modelId())) {
      throw new HeadwiseException(
          "plan "
              + meta.planId()
              + " was made for model "
              + meta.modelId()
              + ", not for "
              + planModel.source()
              + " ("
              + planModel.modelId()
              + "); refusing to apply it: export a plan of this model");
    }
    if (!planModel.modelId().equals(decoder.modelId())
        && !weights(planModel.graph()).equals(weights(decoder.graph()))) {
      throw new HeadwiseException(
          "model "
              + decoder.source()
              + " does not hold the weights of "
              + planModel.source()
              + ", the model plan "
              + meta.planId()
              + " was made for; export the decode graph from the same network"
              + " exported with its KV cache");
    }
    PlanMeta rebased =
        new PlanMeta(
            meta.planId(),
            decoder.modelId(),
            meta.statsRunId(),
            meta.method(),
            meta.kvFractionTarget(),
            meta.targetLengths(),
            meta.expectedKvFraction(),
            meta.numLayers(),
            meta.numHeads(),
            meta.numKvHeads(),
            meta.createdAtMillis());
    List<PlanRow> rebasedRows =
        rows.stream()
            .map(
                r ->
                    new PlanRow(
                        r.planId(),
                        decoder.modelId(),
                        r.statsRunId(),
                        r.method(),
                        r.granularity(),
                        r.layer(),
                        r.head(),
                        r.kind(),
                        r.sinkTokens(),
                        r.alpha(),
                        r.beta(),
                        r.budgetTokens(),
                        r.paramsJson()))
            .toList();
    List<LayerPlan> plans = PlanResolver.resolve(decoder, map, rebased, rebasedRows);
    AttentionCoreRewriter.Result rewritten = AttentionCoreRewriter.rewrite(decoder, map, plans);
    return build(decoder, rewritten.proto(), plans, inputs, meta.planId());
  }

  /**
   * Writes the decode graph of {@link #rewrite} to {@code out} (through a temporary file; failures
   * write nothing).
   */
  public static Path export(
      OnnxModel decoder,
      AttentionMap map,
      OnnxModel planModel,
      PlanMeta meta,
      List<PlanRow> rows,
      Path out) {
    return write(decoder, rewrite(decoder, map, planModel, meta, rows), out);
  }

  /**
   * Writes a decode graph of {@code decoder} (external data copied next to {@code out} as the
   * exporter does).
   */
  public static Path write(OnnxModel decoder, DecodeGraph graph, Path out) {
    return ModelFileWriter.write(decoder, graph.proto(), out, ExternalDataPlacement.COPY).output();
  }

  private static DecodeGraph build(
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
    BodyBuilder shared = new BodyBuilder(opset, PREFIX);
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
    List<ValueInfoProto> newInputs = new ArrayList<>();
    List<ValueInfoProto> newOutputs = new ArrayList<>();
    List<LayerTensors> layerTensors = new ArrayList<>();
    for (int l = 0; l < ops.size(); l++) {
      NodeProto op = ops.get(l);
      LayerPlan plan = plans.get(l);
      Map<String, double[]> attrs = new HashMap<>();
      for (AttributeProto a : op.getAttributeList()) {
        attrs.put(a.getName(), Tensors.toDoubles(a.getT()));
      }
      double[] kvHeads = attrs.get(HeadwiseAttentionOp.ATTR_KV_HEADS);
      float scale = (float) attrs.get(HeadwiseAttentionOp.ATTR_SCALE)[0];
      String newKey = newTokens(producers, op.getInput(1), decoder, l, "key");
      String newValue = newTokens(producers, op.getInput(2), decoder, l, "value");
      long headDim = inputs.pastInputs().get(0).headDim();
      List<DecodeCacheGroup> layerGroups = groups(plan, kvHeads, l, planId);
      long[] kvMap = new long[kvHeads.length];
      for (int h = 0; h < kvMap.length; h++) {
        kvMap[h] = (long) kvHeads[h];
      }
      layerTensors.add(
          new LayerTensors(op.getInput(0), newKey, newValue, scale, kvMap, op.getOutput(0)));
      BodyBuilder b = new BodyBuilder(opset, PREFIX + "layer" + l + "/");
      List<String> outs = new ArrayList<>();
      List<Integer> order = new ArrayList<>();
      for (DecodeCacheGroup g : layerGroups) {
        outs.add(
            g.budget()
                ? budgetAttention(b, g, op.getInput(0), newKey, newValue, kvHeads, scale)
                : groupAttention(
                    b,
                    g,
                    op.getInput(0),
                    newKey,
                    newValue,
                    kvHeads,
                    scale,
                    newPositions,
                    queryPos,
                    nextPos));
        order.addAll(g.queryHeads());
        for (String part : List.of("key", "value")) {
          newInputs.add(
              cacheInfo(
                  DecodeCacheGroup.PAST + g.name(part),
                  g.kvHeads().size(),
                  headDim,
                  "past_" + l + "_" + g.group()));
          newOutputs.add(
              cacheInfo(
                  DecodeCacheGroup.PRESENT + g.name(part),
                  g.kvHeads().size(),
                  headDim,
                  "present_" + l + "_" + g.group()));
        }
        if (g.budget()) {
          // accumulated attention per entry; no positions (the layout says which are recent)
          newInputs.add(
              perHeadInfo(
                  DecodeCacheGroup.PAST + g.name("scores"),
                  GraphBuilder.FLOAT,
                  g.kvHeads().size(),
                  "past_" + l + "_" + g.group()));
          newOutputs.add(
              perHeadInfo(
                  DecodeCacheGroup.PRESENT + g.name("scores"),
                  GraphBuilder.FLOAT,
                  g.kvHeads().size(),
                  "present_" + l + "_" + g.group()));
        }
        if (g.compensation()) {
          for (String part : List.of("sum_key", "sum_value")) {
            newInputs.add(
                cacheInfo(DecodeCacheGroup.PAST + g.name(part), g.kvHeads().size(), headDim, null));
            newOutputs.add(
                cacheInfo(
                    DecodeCacheGroup.PRESENT + g.name(part), g.kvHeads().size(), headDim, null));
          }
          newInputs.add(countInfo(DecodeCacheGroup.PAST + g.name("dropped")));
          newOutputs.add(countInfo(DecodeCacheGroup.PRESENT + g.name("dropped")));
        }
        if (!g.budget()) {
          newInputs.add(
              positionsInfo(
                  DecodeCacheGroup.PAST + g.name("positions"), "past_" + l + "_" + g.group()));
          newOutputs.add(
              positionsInfo(
                  DecodeCacheGroup.PRESENT + g.name("positions"),
                  "present_" + l + "_" + g.group()));
        }
      }
      groups.addAll(layerGroups);
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
      String ordered =
          identity
              ? joined
              : b.op(
                  "Gather",
                  "head_order",
                  List.of(joined, b.longVector("inverse", inverse)),
                  GraphBuilder.intAttr("axis", 1));
      b.node("Identity", List.of(ordered), List.of(op.getOutput(0)));
      replacements.put(op, b.nodes());
    }
    List<NodeProto> nodes = new ArrayList<>(shared.nodes());
    for (NodeProto n : graph.getNodeList()) {
      List<NodeProto> r = replacements.get(n);
      nodes.addAll(r != null ? r : List.of(n));
    }
    Set<String> pastNames = new HashSet<>();
    inputs.pastInputs().forEach(p -> pastNames.add(p.name()));
    GraphProto.Builder g = graph.toBuilder().clearNode().addAllNode(nodes);
    List<ValueInfoProto> keptOutputs =
        graph.getOutputList().stream().filter(o -> !o.getName().startsWith("present")).toList();
    g.clearOutput().addAllOutput(keptOutputs).addAllOutput(newOutputs);
    GraphPruner.prune(g);
    Set<String> read = new HashSet<>();
    for (NodeProto n : g.getNodeList()) {
      read.addAll(n.getInputList());
      for (AttributeProto a : n.getAttributeList()) {
        if (a.hasG()) {
          a.getG().getNodeList().forEach(x -> read.addAll(x.getInputList()));
        }
      }
    }
    g.getOutputList().forEach(o -> read.add(o.getName()));
    List<ValueInfoProto> keptInputs =
        graph.getInputList().stream()
            .filter(v -> !pastNames.contains(v.getName()) && read.contains(v.getName()))
            .toList();
    g.clearInput().addAllInput(keptInputs).addAllInput(newInputs);
    // No HeadwiseAttention node is left: drop its function and domain import.
    ModelProto.Builder out = proto.toBuilder().setGraph(g).clearFunctions();
    List<ai.onnx.proto.OnnxMl.OperatorSetIdProto> imports =
        proto.getOpsetImportList().stream()
            .filter(o -> !o.getDomain().equals(HeadwiseAttentionOp.DOMAIN))
            .toList();
    out.clearOpsetImport().addAllOpsetImport(imports);
    for (ai.onnx.proto.OnnxMl.FunctionProto f : proto.getFunctionsList()) {
      if (!f.getDomain().equals(HeadwiseAttentionOp.DOMAIN)) {
        out.addFunctions(f);
      }
    }
    return new DecodeGraph(
        out.build(), List.copyOf(groups), positionIds, List.copyOf(layerTensors));
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

  /** Groups of kv heads with the same policy, in order of their first kv head. */
  private static List<DecodeCacheGroup> groups(
      LayerPlan plan, double[] kvHeads, int layer, String planId) {
    Map<String, List<Integer>> byPolicy = new LinkedHashMap<>();
    Map<Integer, Integer> policyHead = new HashMap<>();
    Map<Integer, String> policyOfKv = new HashMap<>();
    for (int h = 0; h < plan.numHeads(); h++) {
      int kind = (int) plan.kinds()[h];
      String policy =
          switch (kind) {
            case HeadwiseAttentionOp.KIND_FULL -> "full";
            case HeadwiseAttentionOp.KIND_BUDGET ->
                "b"
                    + plan.budgetTokens()[h]
                    + "/"
                    + plan.recentTokens()[h]
                    + "/m"
                    + plan.merge()[h];
            default ->
                "w"
                    + plan.sinkTokens()[h]
                    + "/"
                    + Float.floatToIntBits(plan.alpha()[h])
                    + "/"
                    + Float.floatToIntBits(plan.beta()[h])
                    + "/c"
                    + plan.compensation()[h];
          };
      int kv = (int) kvHeads[h];
      String before = policyOfKv.putIfAbsent(kv, policy);
      if (before != null && !before.equals(policy)) {
        throw new HeadwiseException(
            "plan "
                + planId
                + " gives the query heads of layer "
                + layer
                + ", kv head "
                + kv
                + " different policies; a KV cache is per kv head, so a decode graph needs one policy per kv head (plan"
                + " per kv head)");
      }
      policyHead.putIfAbsent(kv, h);
      byPolicy.computeIfAbsent(policy, k -> new ArrayList<>());
    }
    List<Integer> kvOrder = new ArrayList<>(policyOfKv.keySet());
    kvOrder.sort(null);
    for (int kv : kvOrder) {
      byPolicy.get(policyOfKv.get(kv)).add(kv);
    }
    List<DecodeCacheGroup> out = new ArrayList<>();
    for (Map.Entry<String, List<Integer>> e : byPolicy.entrySet()) {
      List<Integer> kvs = e.getValue();
      int h = policyHead.get(kvs.get(0));
      List<Integer> queries = new ArrayList<>();
      for (int q = 0; q < plan.numHeads(); q++) {
        if (kvs.contains((int) kvHeads[q])) {
          queries.add(q);
        }
      }
      int kind = (int) plan.kinds()[h];
      boolean windowed =
          kind == HeadwiseAttentionOp.KIND_STREAMING || kind == HeadwiseAttentionOp.KIND_ELASTIC;
      boolean budget = kind == HeadwiseAttentionOp.KIND_BUDGET;
      out.add(
          new DecodeCacheGroup(
              layer,
              out.size(),
              kind,
              windowed ? plan.sinkTokens()[h] : 0,
              windowed ? plan.alpha()[h] : 0f,
              windowed ? plan.beta()[h] : 0f,
              budget ? plan.budgetTokens()[h] : 0,
              budget ? plan.recentTokens()[h] : 0,
              List.copyOf(kvs),
              List.copyOf(queries),
              windowed ? plan.compensation()[h] != 0 : budget && plan.merge()[h] != 0));
    }
    return out;
  }

  /**
   * Attention of one group's query heads over its cache plus the new tokens, and the group's
   * present cache: the entries whose positions the next token's keep rule reaches (Compress along
   * the token axis).
   */
  private static String groupAttention(
      BodyBuilder b,
      DecodeCacheGroup g,
      String query,
      String newKey,
      String newValue,
      double[] kvHeads,
      float scale,
      String newPositions,
      String queryPos,
      String nextPos) {
    String pre = "g" + g.group() + "_";
    long[] kvs = g.kvHeads().stream().mapToLong(Integer::longValue).toArray();
    long[] queries = g.queryHeads().stream().mapToLong(Integer::longValue).toArray();
    long[] local = new long[queries.length];
    for (int i = 0; i < queries.length; i++) {
      local[i] = g.kvHeads().indexOf((int) kvHeads[(int) queries[i]]);
    }
    String past = DecodeCacheGroup.PAST;
    String present = DecodeCacheGroup.PRESENT;
    String axis1 = "axis";
    String q =
        b.op(
            "Gather",
            pre + "query",
            List.of(query, b.longVector(pre + "queries", queries)),
            GraphBuilder.intAttr(axis1, 1));
    String k =
        b.op(
            "Concat",
            pre + "keys",
            List.of(
                past + g.name("key"),
                b.op(
                    "Gather",
                    pre + "new_keys",
                    List.of(newKey, b.longVector(pre + "kv", kvs)),
                    GraphBuilder.intAttr(axis1, 1))),
            GraphBuilder.intAttr(axis1, 2));
    String v =
        b.op(
            "Concat",
            pre + "values",
            List.of(
                past + g.name("value"),
                b.op(
                    "Gather",
                    pre + "new_values",
                    List.of(newValue, b.longVector(pre + "kv_v", kvs)),
                    GraphBuilder.intAttr(axis1, 1))),
            GraphBuilder.intAttr(axis1, 2));
    String positions =
        b.op(
            "Concat",
            pre + "positions",
            List.of(past + g.name("positions"), newPositions),
            GraphBuilder.intAttr(axis1, 0)); // [L + S]
    boolean sameHeads = local.length == kvs.length;
    for (int i = 0; i < local.length && sameHeads; i++) {
      sameHeads = local[i] == i;
    }
    String kq =
        sameHeads
            ? k
            : b.op(
                "Gather",
                pre + "key_per_query",
                List.of(k, b.longVector(pre + "local", local)),
                GraphBuilder.intAttr(axis1, 1));
    String vq =
        sameHeads
            ? v
            : b.op(
                "Gather",
                pre + "value_per_query",
                List.of(v, b.longVector(pre + "local_v", local)),
                GraphBuilder.intAttr(axis1, 1));
    String scores =
        b.op(
            "Mul",
            pre + "scores",
            b.op("MatMul", pre + "qk", q, b.transpose(kq, 0, 1, 3, 2)),
            b.floatScalar(pre + "scale", scale));
    String keyPos = b.cast(positions, GraphBuilder.FLOAT); // [L + S]
    String keyPosRow = b.reshape(keyPos, 1, -1);
    String diff = b.op("Sub", pre + "distance", queryPos, keyPosRow); // [S, L + S]
    String zero = b.floatScalar(pre + "zero", 0f);
    String one = b.floatScalar(pre + "one", 1f);
    String order = b.not(b.less(diff, zero));
    String keep;
    String select;
    if (g.kind() == HeadwiseAttentionOp.KIND_FULL) {
      keep = order;
      select = null;
    } else {
      String alpha = b.floatScalar(pre + "alpha", g.alpha());
      String beta = b.floatScalar(pre + "beta", g.beta());
      String sink = b.floatScalar(pre + "sink", (float) g.sinkTokens());
      // span(n) = max(0, α + β·n), float32 as the op computes it: β·n rounded, then + α.
      String span =
          b.op(
              "Max",
              pre + "span",
              b.op(
                  "Add",
                  pre + "ab",
                  alpha,
                  b.op("Mul", pre + "bn", beta, b.op("Add", pre + "n", queryPos, one))),
              zero); // [S, 1]
      keep = b.and(order, b.or(b.less(keyPosRow, sink), b.less(diff, span)));
      String nextSpan =
          b.op(
              "Max",
              pre + "next_span",
              b.op(
                  "Add",
                  pre + "next_ab",
                  alpha,
                  b.op("Mul", pre + "next_bn", beta, b.op("Add", pre + "next_n", nextPos, one))),
              zero);
      select =
          b.or(
              b.less(keyPos, sink),
              b.less(b.op("Sub", pre + "next_distance", nextPos, keyPos), nextSpan));
    }
    String minusInf = b.floatScalar(pre + "minus_inf", Float.NEGATIVE_INFINITY);
    String masked = b.where(keep, scores, minusInf);
    String p = b.op("Softmax", pre + "probs", List.of(masked), GraphBuilder.intAttr(axis1, -1));
    String safe = b.where(b.op("IsNaN", pre + "empty_row", p), zero, p);
    String out = b.op("MatMul", pre + "out", safe, vq);
    if (g.compensation()) {
      out =
          compensated(
              b,
              g,
              pre,
              out,
              masked,
              scores,
              q,
              keep,
              order,
              select,
              k,
              v,
              localOrNull(sameHeads, local, b, pre),
              scale,
              zero,
              one,
              minusInf);
    }
    if (select == null) {
      b.node("Identity", List.of(k), List.of(present + g.name("key")));
      b.node("Identity", List.of(v), List.of(present + g.name("value")));
      b.node("Identity", List.of(positions), List.of(present + g.name("positions")));
    } else {
      b.node(
          "Compress",
          List.of(k, select),
          List.of(present + g.name("key")),
          GraphBuilder.intAttr(axis1, 2));
      b.node(
          "Compress",
          List.of(v, select),
          List.of(present + g.name("value")),
          GraphBuilder.intAttr(axis1, 2));
      b.node(
          "Compress",
          List.of(positions, select),
          List.of(present + g.name("positions")),
          GraphBuilder.intAttr(axis1, 0));
    }
    return out;
  }

  private static String localOrNull(boolean sameHeads, long[] local, BodyBuilder b, String pre) {
    return sameHeads ? null : b.longVector(pre + "comp_local", local);
  }

  /**
   * RazorAttention's compensation entry over carried sums: for query i the dropped set is every
   * token the group has evicted (running sums of their keys and values and their count, carried as
   * caches) plus the entries of this call it does not keep (j ≤ i, ¬keep); the entry's logit is the
   * mean dropped scaled score + ln(count), its value the mean dropped value, and out = (1 −
   * p_c)·P·V + p_c·mean(V_D) as in the HeadwiseAttention body. The sums then take the entries the
   * next query no longer reaches.
   */
  private static String compensated(
      BodyBuilder b,
      DecodeCacheGroup g,
      String pre,
      String pv,
      String masked,
      String scores,
      String q,
      String keep,
      String order,
      String select,
      String k,
      String v,
      String localHeads,
      float scale,
      String zero,
      String one,
      String minusInf) {
    String past = DecodeCacheGroup.PAST;
    String present = DecodeCacheGroup.PRESENT;
    String sumK = past + g.name("sum_key");
    String sumV = past + g.name("sum_value");
    String pastCount = past + g.name("dropped");
    String sumKq =
        localHeads == null
            ? sumK
            : b.op(
                "Gather",
                pre + "sum_key_per_query",
                List.of(sumK, localHeads),
                GraphBuilder.intAttr("axis", 1));
    String sumVq =
        localHeads == null
            ? sumV
            : b.op(
                "Gather",
                pre + "sum_value_per_query",
                List.of(sumV, localHeads),
                GraphBuilder.intAttr("axis", 1));
    String vq =
        localHeads == null
            ? v
            : b.op(
                "Gather",
                pre + "comp_values",
                List.of(v, localHeads),
                GraphBuilder.intAttr("axis", 1));
    String dropped = b.cast(b.and(order, b.not(keep)), GraphBuilder.FLOAT); // [S, L + S]
    String count = b.op("Add", pre + "count", pastCount, b.reduceSum(dropped, true, -1)); // [S, 1]
    String atLeastOne = b.op("Max", pre + "count_at_least_1", count, one);
    String pastLogits =
        b.op(
            "Mul",
            pre + "past_dropped_scores",
            b.op("MatMul", pre + "q_sum_key", q, b.transpose(sumKq, 0, 1, 3, 2)),
            b.floatScalar(pre + "comp_scale", scale)); // [B, Hq, S, 1]
    String logitSum =
        b.op(
            "Add",
            pre + "dropped_score_sum",
            pastLogits,
            b.reduceSum(b.op("Mul", pre + "dropped_scores", dropped, scores), true, -1));
    String entryLogit =
        b.where(
            b.op("Greater", pre + "has_dropped", count, b.floatScalar(pre + "half", 0.5f)),
            b.op(
                "Add",
                pre + "entry_logit",
                b.op("Div", pre + "mean_dropped_score", logitSum, atLeastOne),
                b.op("Log", pre + "log_count", atLeastOne)),
            minusInf);
    String all =
        b.op(
            "Concat",
            pre + "with_entry",
            List.of(masked, entryLogit),
            GraphBuilder.intAttr("axis", -1));
    String probs =
        b.op("Softmax", pre + "entry_softmax", List.of(all), GraphBuilder.intAttr("axis", -1));
    String width = b.op("Shape", pre + "width", masked);
    String last =
        b.op("Slice", pre + "tk", width, b.longVector(pre + "w3", 3), b.longVector(pre + "w4", 4));
    String rawEntry =
        b.op(
            "Slice",
            pre + "entry_prob",
            probs,
            last,
            b.op("Add", pre + "tk1", last, b.longVector(pre + "one_i", 1)),
            b.longVector(pre + "axis3", 3));
    String entry =
        b.where(b.op("IsNaN", pre + "entry_nan", rawEntry), zero, rawEntry); // [B, Hq, S, 1]
    String meanValue =
        b.op(
            "Div",
            pre + "mean_dropped_value",
            b.op(
                "Add",
                pre + "dropped_value_sum",
                sumVq,
                b.op("MatMul", pre + "new_dropped_values", dropped, vq)),
            atLeastOne);
    String out =
        b.op(
            "Add",
            pre + "compensated",
            b.op("Mul", pre + "kept_share", pv, b.op("Sub", pre + "one_minus_entry", one, entry)),
            b.op("Mul", pre + "entry_share", entry, meanValue));
    // Carry: the entries the next query no longer reaches join the sums.
    String evicted = b.reshape(b.cast(b.not(select), GraphBuilder.FLOAT), 1, -1); // [1, L + S]
    b.node(
        "Add",
        List.of(sumK, b.op("MatMul", pre + "evicted_keys", evicted, k)),
        List.of(present + g.name("sum_key")));
    b.node(
        "Add",
        List.of(sumV, b.op("MatMul", pre + "evicted_values", evicted, v)),
        List.of(present + g.name("sum_value")));
    b.node(
        "Add",
        List.of(pastCount, b.reduceSum(evicted, false, 0, 1)),
        List.of(present + g.name("dropped")));
    return out;
  }

  /**
   * H2O (Zhang et al. 2023, as its real-drop cache does it): each kv head keeps at most B entries,
   * the R most recent tokens plus the B − R older ones with the largest attention accumulated since
   * they entered the cache (summed over the queries that saw them, averaged over the query heads of
   * the kv head's group); an evicted token never returns. Attention itself is dense over the cache
   * and the new tokens (causal among the new ones): a prompt chunk is attended in full and then
   * compressed, a decode step evicts at most one token per head.
   *
   * <p>The cache holds keys, values and one float score per entry, and no positions: the heavy
   * hitters come first, then the min(R, n) most recent tokens in position order, so the recent ones
   * are the last entries and causality among the new tokens follows from their indices.
   *
   * <p>With a merge slot ({@link DecodeCacheGroup#compensation()}, EMS as the ems planner
   * reconstructs it): the same selection, and every evicted token is merged into one slot per kv
   * head instead of dropped (running sums of keys and values and their count), which the queries
   * attend to as one more entry ({@link #mergeSlotAttention}).
   */
  private static String budgetAttention(
      BodyBuilder b,
      DecodeCacheGroup g,
      String query,
      String newKey,
      String newValue,
      double[] kvHeads,
      float scale) {
    String pre = "g" + g.group() + "_";
    long[] kvs = g.kvHeads().stream().mapToLong(Integer::longValue).toArray();
    long[] queries = g.queryHeads().stream().mapToLong(Integer::longValue).toArray();
    long[] local = new long[queries.length];
    int[] perKv = new int[kvs.length];
    for (int i = 0; i < queries.length; i++) {
      local[i] = g.kvHeads().indexOf((int) kvHeads[(int) queries[i]]);
      perKv[(int) local[i]]++;
    }
    float[] average =
        new float[queries.length * kvs.length]; // [Hq, Hg]: mean over a kv head's query heads
    for (int i = 0; i < queries.length; i++) {
      average[i * kvs.length + (int) local[i]] = 1f / perKv[(int) local[i]];
    }
    String past = DecodeCacheGroup.PAST;
    String present = DecodeCacheGroup.PRESENT;
    String axis = "axis";
    String q =
        b.op(
            "Gather",
            pre + "query",
            List.of(query, b.longVector(pre + "queries", queries)),
            GraphBuilder.intAttr(axis, 1));
    String kNew =
        b.op(
            "Gather",
            pre + "new_keys",
            List.of(newKey, b.longVector(pre + "kv", kvs)),
            GraphBuilder.intAttr(axis, 1)); // [B, Hg, S, D]
    String vNew =
        b.op(
            "Gather",
            pre + "new_values",
            List.of(newValue, b.longVector(pre + "kv_v", kvs)),
            GraphBuilder.intAttr(axis, 1));
    String k =
        b.op(
            "Concat",
            pre + "keys",
            List.of(past + g.name("key"), kNew),
            GraphBuilder.intAttr(axis, 2));
    String v =
        b.op(
            "Concat",
            pre + "values",
            List.of(past + g.name("value"), vNew),
            GraphBuilder.intAttr(axis, 2));
    String newShape =
        b.op(
            "Slice",
            pre + "new_shape",
            b.op("Shape", pre + "kv_shape", kNew),
            b.longVector(pre + "s0", 0),
            b.longVector(pre + "s3", 3)); // [B, Hg, S]
    String fresh =
        b.op("ConstantOfShape", pre + "fresh_scores", newShape); // float zeros [B, Hg, S]
    String accumulated =
        b.op(
            "Concat",
            pre + "scores_before",
            List.of(past + g.name("scores"), fresh),
            GraphBuilder.intAttr(axis, 2)); // [B, Hg, T = L + S]
    // The cache carries no positions: its layout says which entries are the most recent (see
    // below), and the new tokens follow every cached one, so causality only needs candidate
    // indices: candidate j is visible to the new token i (at index L + i) when j <= L + i.
    String total =
        b.op(
            "Slice",
            pre + "total",
            b.op("Shape", pre + "all_shape", accumulated),
            b.longVector(pre + "t2", 2),
            b.longVector(pre + "t3", 3)); // [1]: T
    String pastLength =
        b.op(
            "Sub",
            pre + "past_length",
            total,
            b.op(
                "Slice",
                pre + "new_count",
                newShape,
                b.longVector(pre + "n2", 2),
                b.longVector(pre + "n3", 3))); // [1]: L
    String candidateIndex =
        b.cast(
            b.op(
                "Range",
                pre + "candidate_index",
                b.longScalar(pre + "r0", 0),
                b.reshape(total),
                b.longScalar(pre + "r1", 1)),
            GraphBuilder.FLOAT); // [T]
    String queryIndex =
        b.reshape(
            b.cast(
                b.op(
                    "Range",
                    pre + "query_index",
                    b.reshape(pastLength),
                    b.reshape(total),
                    b.longScalar(pre + "q1", 1)),
                GraphBuilder.FLOAT),
            -1,
            1); // [S, 1]
    String localHeads = b.longVector(pre + "local", local);
    String kq =
        b.op(
            "Gather", pre + "key_per_query", List.of(k, localHeads), GraphBuilder.intAttr(axis, 1));
    String vq =
        b.op(
            "Gather",
            pre + "value_per_query",
            List.of(v, localHeads),
            GraphBuilder.intAttr(axis, 1));
    String scores =
        b.op(
            "Mul",
            pre + "scores",
            b.op("MatMul", pre + "qk", q, b.transpose(kq, 0, 1, 3, 2)),
            b.floatScalar(pre + "scale", scale)); // [B, Hq, S, L + S]
    String zero = b.floatScalar(pre + "zero", 0f);
    String order =
        b.not(b.less(b.op("Sub", pre + "distance", queryIndex, candidateIndex), zero)); // [S, T]
    String minusInf = b.floatScalar(pre + "minus_inf", Float.NEGATIVE_INFINITY);
    String masked = b.where(order, scores, minusInf);
    String safe;
    String out;
    if (g.compensation()) {
      MergeSlot slot = mergeSlotAttention(b, g, pre, q, masked, vq, localHeads, scale, zero);
      safe = slot.tokenProbs();
      out = slot.out();
    } else {
      String p = b.op("Softmax", pre + "probs", List.of(masked), GraphBuilder.intAttr(axis, -1));
      safe = b.where(b.op("IsNaN", pre + "empty_row", p), zero, p);
      out = b.op("MatMul", pre + "out", safe, vq);
    }
    // Accumulate: Σ over the new queries, mean over the query heads of each kv head.
    String seen = b.reduceSum(safe, false, 2); // [B, Hq, L + S]
    String perHead =
        b.transpose(
            b.op(
                "MatMul",
                pre + "group_mean",
                b.transpose(seen, 0, 2, 1),
                b.constant(
                    pre + "average",
                    Tensors.floats("", new long[] {queries.length, kvs.length}, average))),
            0,
            2,
            1); // [B, Hg, L + S]
    String scoresAfter = b.op("Add", pre + "scores_after", accumulated, perHead);
    // Layout of a budget cache (it carries no positions): the heavy hitters first (in any order),
    // then the min(R, n) most recent tokens in position order. Every heavy hitter is older than
    // every recent entry and the new tokens are newer than the cache, so the last r = min(R, T)
    // candidates are the r most recent tokens. Keep them, in order, at the end; before them the
    // h = min(T, B) − r candidates of the other T − r with the largest accumulated attention.
    String recentCount =
        b.op("Min", pre + "recent_count", total, b.longVector(pre + "recent", g.recentTokens()));
    String older = b.op("Sub", pre + "older", total, recentCount); // [1]: T − r
    String keepCount =
        b.op("Min", pre + "keep_count", total, b.longVector(pre + "budget", g.budgetTokens()));
    String heavyCount = b.op("Sub", pre + "heavy_count", keepCount, recentCount); // [1]: h
    String olderScores =
        b.op(
            "Slice",
            pre + "older_scores",
            scoresAfter,
            b.longVector(pre + "o0", 0),
            older,
            b.longVector(pre + "o2", 2)); // [B, Hg, T − r]
    String heavyScores = b.fresh(pre + "heavy_scores");
    String heavyIndex = b.fresh(pre + "heavy_index");
    b.node(
        "TopK",
        List.of(olderScores, heavyCount),
        List.of(heavyScores, heavyIndex),
        GraphBuilder.intAttr(axis, -1),
        GraphBuilder.intAttr("largest", 1),
        GraphBuilder.intAttr("sorted", 1)); // ties: the lower index first (ONNX TopK)
    String heavyShape = b.op("Shape", pre + "heavy_shape", heavyIndex); // [B, Hg, h]
    String recentShape =
        b.op(
            "Concat",
            pre + "recent_shape",
            List.of(
                b.op(
                    "Slice",
                    pre + "batch_heads",
                    heavyShape,
                    b.longVector(pre + "bh0", 0),
                    b.longVector(pre + "bh2", 2)),
                recentCount),
            GraphBuilder.intAttr(axis, 0)); // [B, Hg, r]
    String recentIndex =
        b.op(
            "Expand",
            pre + "recent_index",
            b.reshape(
                b.op(
                    "Range",
                    pre + "recent_range",
                    b.reshape(older),
                    b.reshape(total),
                    b.longScalar(pre + "rr1", 1)),
                1,
                1,
                -1),
            recentShape);
    String index =
        b.op(
            "Concat",
            pre + "kept_index",
            List.of(heavyIndex, recentIndex),
            GraphBuilder.intAttr(axis, 2)); // [B, Hg, min(T, B)]
    String index4 = b.unsqueeze(index, 3); // [B, Hg, k, 1]
    String indexShape = b.op("Shape", pre + "index_shape", index); // [B, Hg, k]
    String keyIndex =
        b.op(
            "Expand",
            pre + "key_index",
            index4,
            b.op(
                "Concat",
                pre + "key_index_shape",
                List.of(
                    indexShape,
                    b.op(
                        "Slice",
                        pre + "key_dim",
                        b.op("Shape", pre + "k_shape", k),
                        b.longVector(pre + "d3", 3),
                        b.longVector(pre + "d4", 4))),
                GraphBuilder.intAttr(axis, 0)));
    String valueIndex =
        b.op(
            "Expand",
            pre + "value_index",
            index4,
            b.op(
                "Concat",
                pre + "value_index_shape",
                List.of(
                    indexShape,
                    b.op(
                        "Slice",
                        pre + "value_dim",
                        b.op("Shape", pre + "v_shape", v),
                        b.longVector(pre + "dv3", 3),
                        b.longVector(pre + "dv4", 4))),
                GraphBuilder.intAttr(axis, 0)));
    b.node(
        "GatherElements",
        List.of(k, keyIndex),
        List.of(present + g.name("key")),
        GraphBuilder.intAttr(axis, 2));
    b.node(
        "GatherElements",
        List.of(v, valueIndex),
        List.of(present + g.name("value")),
        GraphBuilder.intAttr(axis, 2));
    b.node(
        "GatherElements",
        List.of(scoresAfter, index),
        List.of(present + g.name("scores")),
        GraphBuilder.intAttr(axis, 2));
    if (g.compensation()) {
      // Merge: every candidate (past cache + new tokens) TopK did not keep joins the slot's sums,
      // i.e. new_sum = old_sum + Σ candidates − Σ kept, computed as a sum over the evicted mask.
      String keptMask =
          b.op(
              "ScatterElements",
              pre + "kept_mask",
              List.of(
                  b.op(
                      "ConstantOfShape",
                      pre + "mask_zeros",
                      b.op("Shape", pre + "rank_shape", scoresAfter)),
                  index,
                  b.op(
                      "Add",
                      pre + "mask_ones",
                      b.op("ConstantOfShape", pre + "ones_base", indexShape),
                      b.floatScalar(pre + "mask_one", 1f))),
              GraphBuilder.intAttr(axis, 2)); // [B, Hg, L + S]: 1 where kept
      String evicted =
          b.unsqueeze(
              b.op("Sub", pre + "evicted_mask", b.floatScalar(pre + "all_one", 1f), keptMask),
              2); // [B, Hg, 1, L + S]
      b.node(
          "Add",
          List.of(past + g.name("sum_key"), b.op("MatMul", pre + "merged_keys", evicted, k)),
          List.of(present + g.name("sum_key")));
      b.node(
          "Add",
          List.of(past + g.name("sum_value"), b.op("MatMul", pre + "merged_values", evicted, v)),
          List.of(present + g.name("sum_value")));
      b.node(
          "Add",
          List.of(
              past + g.name("dropped"),
              b.cast(b.op("Sub", pre + "evicted_count", total, keepCount), GraphBuilder.FLOAT)),
          List.of(present + g.name("dropped")));
    }
    return out;
  }

  /** The attention of a budget group with a merge slot: probabilities of the tokens, output. */
  private record MergeSlot(String tokenProbs, String out) {}

  /**
   * EMS's merge slot in the attention of a budget group (the compensation entry of RazorAttention
   * over carried sums): one more entry per kv head with key sum_key/count, logit scaled q·key +
   * ln(count) (as if the count evicted tokens all sat at their mean key) and value sum_value/count;
   * absent (logit −∞) while nothing has been evicted. The slot's probability is not accumulated
   * into any token's score.
   */
  private static MergeSlot mergeSlotAttention(
      BodyBuilder b,
      DecodeCacheGroup g,
      String pre,
      String q,
      String masked,
      String vq,
      String localHeads,
      float scale,
      String zero) {
    String axis = "axis";
    String past = DecodeCacheGroup.PAST;
    String one = b.floatScalar(pre + "one", 1f);
    String count = past + g.name("dropped"); // [1]
    String atLeastOne = b.op("Max", pre + "count_at_least_1", count, one);
    String sumKq =
        b.op(
            "Gather",
            pre + "sum_key_per_query",
            List.of(past + g.name("sum_key"), localHeads),
            GraphBuilder.intAttr(axis, 1)); // [B, Hq, 1, D]
    String sumVq =
        b.op(
            "Gather",
            pre + "sum_value_per_query",
            List.of(past + g.name("sum_value"), localHeads),
            GraphBuilder.intAttr(axis, 1));
    String slotLogit =
        b.where(
            b.op("Greater", pre + "has_merged", count, b.floatScalar(pre + "half", 0.5f)),
            b.op(
                "Add",
                pre + "slot_logit",
                b.op(
                    "Div",
                    pre + "mean_key_score",
                    b.op(
                        "Mul",
                        pre + "sum_key_score",
                        b.op("MatMul", pre + "q_sum_key", q, b.transpose(sumKq, 0, 1, 3, 2)),
                        b.floatScalar(pre + "slot_scale", scale)),
                    atLeastOne),
                b.op("Log", pre + "log_count", atLeastOne)),
            b.floatScalar(pre + "slot_minus_inf", Float.NEGATIVE_INFINITY)); // [B, Hq, S, 1]
    String all =
        b.op(
            "Concat",
            pre + "with_slot",
            List.of(masked, slotLogit),
            GraphBuilder.intAttr(axis, -1));
    String p = b.op("Softmax", pre + "probs", List.of(all), GraphBuilder.intAttr(axis, -1));
    String safe = b.where(b.op("IsNaN", pre + "empty_row", p), zero, p);
    String width =
        b.op(
            "Slice",
            pre + "width",
            b.op("Shape", pre + "masked_shape", masked),
            b.longVector(pre + "w3", 3),
            b.longVector(pre + "w4", 4)); // [1]: L + S
    String tokenProbs =
        b.op(
            "Slice",
            pre + "token_probs",
            safe,
            b.longVector(pre + "from0", 0),
            width,
            b.longVector(pre + "tokens_axis", 3));
    String slotProb =
        b.op(
            "Slice",
            pre + "slot_prob",
            safe,
            width,
            b.op("Add", pre + "width1", width, b.longVector(pre + "one_i", 1)),
            b.longVector(pre + "slot_axis", 3)); // [B, Hq, S, 1]
    String out =
        b.op(
            "Add",
            pre + "out",
            b.op("MatMul", pre + "kept_out", tokenProbs, vq),
            b.op(
                "Mul",
                pre + "slot_out",
                slotProb,
                b.op("Div", pre + "mean_value", sumVq, atLeastOne)));
    return new MergeSlot(tokenProbs, out);
  }

  private static ValueInfoProto perHeadInfo(String name, int type, long heads, String tokens) {
    return ValueInfoProto.newBuilder()
        .setName(name)
        .setType(
            TypeProto.newBuilder()
                .setTensorType(
                    TypeProto.Tensor.newBuilder()
                        .setElemType(type)
                        .setShape(
                            TensorShapeProto.newBuilder()
                                .addDim(
                                    TensorShapeProto.Dimension.newBuilder()
                                        .setDimParam("batch_size"))
                                .addDim(TensorShapeProto.Dimension.newBuilder().setDimValue(heads))
                                .addDim(
                                    TensorShapeProto.Dimension.newBuilder().setDimParam(tokens)))))
        .build();
  }

  /**
   * float [1]: how many tokens a compensated group has evicted (the compensation entry's count).
   */
  private static ValueInfoProto countInfo(String name) {
    return ValueInfoProto.newBuilder()
        .setName(name)
        .setType(
            TypeProto.newBuilder()
                .setTensorType(
                    TypeProto.Tensor.newBuilder()
                        .setElemType(GraphBuilder.FLOAT)
                        .setShape(
                            TensorShapeProto.newBuilder()
                                .addDim(TensorShapeProto.Dimension.newBuilder().setDimValue(1)))))
        .build();
  }

  /** [batch, heads, tokens, head dim]; {@code tokens} null: one entry (the compensation sums). */
  private static ValueInfoProto cacheInfo(String name, long heads, long headDim, String tokens) {
    TensorShapeProto.Dimension length =
        tokens == null
            ? TensorShapeProto.Dimension.newBuilder().setDimValue(1).build()
            : TensorShapeProto.Dimension.newBuilder().setDimParam(tokens).build();
    return ValueInfoProto.newBuilder()
        .setName(name)
        .setType(
            TypeProto.newBuilder()
                .setTensorType(
                    TypeProto.Tensor.newBuilder()
                        .setElemType(GraphBuilder.FLOAT)
                        .setShape(
                            TensorShapeProto.newBuilder()
                                .addDim(
                                    TensorShapeProto.Dimension.newBuilder()
                                        .setDimParam("batch_size"))
                                .addDim(TensorShapeProto.Dimension.newBuilder().setDimValue(heads))
                                .addDim(length)
                                .addDim(
                                    TensorShapeProto.Dimension.newBuilder().setDimValue(headDim)))))
        .build();
  }

  private static ValueInfoProto positionsInfo(String name, String tokens) {
    return ValueInfoProto.newBuilder()
        .setName(name)
        .setType(
            TypeProto.newBuilder()
                .setTensorType(
                    TypeProto.Tensor.newBuilder()
                        .setElemType(GraphBuilder.INT64)
                        .setShape(
                            TensorShapeProto.newBuilder()
                                .addDim(
                                    TensorShapeProto.Dimension.newBuilder().setDimParam(tokens)))))
        .build();
  }

  /**
   * A fingerprint of a model's weights: the sorted SHA-256 digests of its large initializers'
   * contents (names and small constants differ between exports of one network; the weights do not).
   */
  static List<String> weights(GraphProto graph) {
    List<String> out = new ArrayList<>();
    MessageDigest sha;
    try {
      sha = MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
    for (TensorProto t : graph.getInitializerList()) {
      long n = 1;
      for (long d : t.getDimsList()) {
        n *= d;
      }
      if (n < 256) {
        continue;
      }
      sha.reset();
      sha.update(t.getRawData().toByteArray());
      for (float f : t.getFloatDataList()) {
        sha.update(Float.toString(f).getBytes(java.nio.charset.StandardCharsets.UTF_8));
      }
      sha.update(t.getDimsList().toString().getBytes(java.nio.charset.StandardCharsets.UTF_8));
      out.add(HexFormat.of().formatHex(sha.digest()));
    }
    out.sort(null);
    return out;
  }
}
