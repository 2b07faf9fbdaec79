package io.headwise.graph;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.TypeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import io.headwise.schemas.HeadwiseException;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Finds the attention blocks of a graph. Each block is anchored on a default-domain {@code Softmax}
 * over the last axis whose output (after Cast, Dropout, Identity or an IsNaN→Where guard) is input
 * 0 of a {@code MatMul(P, V)}, and whose input comes (through additive masks, Where, Cast and a
 * Mul/Div scale) from a {@code MatMul(Q, Kᵀ)} of two activations. ONNX Runtime's offline-optimized
 * graphs are matched too: there the QK product (and rarely P·V) is a {@code com.microsoft
 * FusedMatMul} whose {@code alpha} carries the scale and whose {@code transB} replaces the
 * transpose of K. A scale may sit on the scores, on both operands (√s each, the TorchScript SDPA
 * symbolic) or on one operand only. Head counts, head dim, the kv-head grouping, the scale and
 * causality are then measured for sure by one probe run on a short input, instead of being guessed
 * from names or symbolic shapes.
 *
 * <p>Fused attention ops are listed as unsupported with their layer, and so is attention that
 * cannot be profiled: a Softmax→MatMul(P, V) core whose probabilities are not [B, H, Tq, Tk] (e.g.
 * [B·H, T, T] or a 5-D grouped form), and attention inside If/Loop/Scan bodies (e.g. Optimum's
 * merged decoders).
 */
public final class AttentionLocator {
  /** Fused attention ops (domain::op) that are reported, not decomposed. */
  static final Set<String> FUSED =
      Set.of(
          "::Attention",
          "ai.onnx::Attention",
          "com.microsoft::Attention",
          "com.microsoft::MultiHeadAttention",
          "com.microsoft::GroupQueryAttention",
          "com.microsoft::PackedAttention",
          "com.microsoft::PackedMultiHeadAttention",
          "com.microsoft::SparseAttention",
          "com.microsoft::DecoderMaskedMultiHeadAttention",
          "com.microsoft::DecoderMaskedSelfAttention",
          "com.microsoft::DecoderAttention",
          "com.microsoft::LongformerAttention",
          "com.microsoft::PagedAttention",
          "com.microsoft::QAttention",
          "com.microsoft::QOrderedAttention",
          "com.microsoft::QOrderedLongformerAttention",
          "ai.onnx.preview::FlexAttention");

  /**
   * Ops whose graph attributes (If/Loop/Scan bodies) are searched for attention that cannot be
   * profiled.
   */
  private static final Set<String> CONTROL_FLOW = Set.of("If", "Loop", "Scan");

  private static final String MS = "com.microsoft";

  private static final Set<String> DOWNSTREAM_SKIP = Set.of("Cast", "Dropout", "Identity");
  private static final Set<String> SCORE_PATH =
      Set.of("Add", "Sub", "Mul", "Div", "Cast", "Where", "Tanh", "Identity");
  private static final Pattern LAYER_NUMBER = Pattern.compile("(?:layers?|h|blocks?)[._/](\\d+)");
  private static final int PROBE_LENGTH = 7;

  private AttentionLocator() {}

  /**
   * Structural candidate found before the probe run. {@code keyIsTransposedByQk} is true when the
   * QK node transposes its second input itself (FusedMatMul transB=1), so {@code keyT} is K [B, H,
   * Tk, D].
   */
  private record Candidate(
      int nodeIndex,
      NodeProto softmax,
      String probabilities,
      NodeProto pv,
      NodeProto qk,
      String query,
      String keyT,
      double structuralScale,
      String scaleForm,
      String scaledScores,
      List<String> masks,
      boolean keyIsTransposedByQk) {}

  /**
   * An attention node headwise cannot instrument: a fused op, a control-flow node with attention
   * inside, or a softmax whose probabilities have another layout.
   *
   * @param reason why, when the op type alone does not say it (null for fused ops)
   */
  private record Unmatched(int nodeIndex, NodeProto node, String reason) {}

  /** Locates all attention blocks of {@code model} (functions are inlined first). */
  public static AttentionMap locate(OnnxModel model) {
    ModelProto proto = FunctionInliner.inline(model.proto());
    GraphProto graph = proto.getGraph();
    GraphIndex idx = new GraphIndex(graph);
    int opset = model.opset();
    List<Candidate> candidates = new ArrayList<>();
    List<Unmatched> fused = new ArrayList<>();
    for (int i = 0; i < graph.getNodeCount(); i++) {
      NodeProto n = graph.getNode(i);
      if (isFused(n)) {
        fused.add(new Unmatched(i, n, null));
        continue;
      }
      if (isSoftmax(n)) {
        match(idx, i, n).ifPresent(candidates::add);
      }
      if (CONTROL_FLOW.contains(n.getOpType()) && n.getDomain().isEmpty()) {
        String nested = nestedAttention(n);
        if (nested != null) {
          fused.add(new Unmatched(i, n, nested));
        }
      }
    }
    List<Candidate> rejected = new ArrayList<>();
    List<AttentionBlock> blocks =
        candidates.isEmpty() ? List.of() : probe(model, proto, idx, candidates, opset, rejected);
    for (Candidate c : rejected) {
      fused.add(
          new Unmatched(
              c.nodeIndex,
              c.softmax,
              "its probabilities are not a [batch, heads, queries, keys]"
                  + " tensor (e.g. heads folded into the batch, or grouped query heads in a 5-D tensor)"));
    }
    fused.sort(Comparator.comparingInt(Unmatched::nodeIndex));
    candidates.removeAll(rejected);
    List<UnsupportedAttention> unsupported = new ArrayList<>();
    for (Unmatched f : fused) {
      int nodeIndex = f.nodeIndex();
      NodeProto n = f.node();
      unsupported.add(
          new UnsupportedAttention(
              layerOf(nodeIndex, n, candidates, fused),
              n.getOpType(),
              n.getDomain(),
              n.getName(),
              f.reason()));
    }
    return new AttentionMap(model.modelId(), opset, blocks, unsupported);
  }

  private static boolean isFused(NodeProto n) {
    return FUSED.contains(n.getDomain() + "::" + n.getOpType());
  }

  private static boolean isSoftmax(NodeProto n) {
    return n.getOpType().equals("Softmax")
        && (n.getDomain().isEmpty() || n.getDomain().equals("ai.onnx"));
  }

  /**
   * When a control-flow node's bodies hold attention (a fused attention op, or a Softmax feeding a
   * MatMul), a sentence saying so; null otherwise. Such attention is reported, not profiled.
   */
  private static String nestedAttention(NodeProto controlFlow) {
    for (AttributeProto a : controlFlow.getAttributeList()) {
      List<GraphProto> bodies = new ArrayList<>();
      if (a.hasG()) {
        bodies.add(a.getG());
      }
      bodies.addAll(a.getGraphsList());
      for (GraphProto body : bodies) {
        GraphIndex bi = new GraphIndex(body);
        int found = 0;
        String what = null;
        for (NodeProto n : body.getNodeList()) {
          if (isFused(n)) {
            found++;
            what = (n.getDomain().isEmpty() ? "ai.onnx" : n.getDomain()) + "::" + n.getOpType();
          } else if (isSoftmax(n)) {
            for (NodeProto c : bi.consumers(n.getOutput(0))) {
              if (isMatMul(c)
                  || DOWNSTREAM_SKIP.contains(c.getOpType())
                  || c.getOpType().equals("Where")) {
                found++;
                what = what == null ? "Softmax" : what;
                break;
              }
            }
          } else if (CONTROL_FLOW.contains(n.getOpType()) && nestedAttention(n) != null) {
            found++;
            what = what == null ? n.getOpType() : what;
          }
        }
        if (found > 0) {
          return "its '"
              + a.getName()
              + "' body holds "
              + found
              + " attention core(s) ("
              + what
              + "); headwise"
              + " profiles attention in the main graph only: export without control flow (e.g. a decoder without"
              + " the merged cache branch)";
        }
      }
    }
    return null;
  }

  /** MatMul, or com.microsoft FusedMatMul. */
  private static boolean isMatMul(NodeProto n) {
    return n.getOpType().equals("MatMul")
            && (n.getDomain().isEmpty() || n.getDomain().equals("ai.onnx"))
        || n.getOpType().equals("FusedMatMul") && n.getDomain().equals(MS);
  }

  private static boolean isFusedMatMul(NodeProto n) {
    return n.getOpType().equals("FusedMatMul");
  }

  /** A FusedMatMul's float attribute (alpha), or {@code fallback}. */
  private static double floatAttribute(NodeProto n, String name, double fallback) {
    for (AttributeProto a : n.getAttributeList()) {
      if (a.getName().equals(name)) {
        return a.getF();
      }
    }
    return fallback;
  }

  /** True for a plain product: a MatMul, or a FusedMatMul with alpha 1 and no transposes. */
  private static boolean isPlainProduct(NodeProto n) {
    if (!isFusedMatMul(n)) {
      return isMatMul(n);
    }
    return floatAttribute(n, "alpha", 1.0) == 1.0
        && GraphIndex.intAttribute(n, "transA", 0) == 0
        && GraphIndex.intAttribute(n, "transB", 0) == 0
        && GraphIndex.intAttribute(n, "transBatchA", 0) == 0
        && GraphIndex.intAttribute(n, "transBatchB", 0) == 0;
  }

  /**
   * The layer of a fused op: the number in its name if any, else its ordinal among all attention
   * nodes.
   */
  private static int layerOf(
      int nodeIndex, NodeProto n, List<Candidate> candidates, List<Unmatched> fused) {
    Matcher m = LAYER_NUMBER.matcher(n.getName());
    if (m.find()) {
      return Integer.parseInt(m.group(1));
    }
    int before = 0;
    for (Candidate c : candidates) {
      if (c.nodeIndex < nodeIndex) {
        before++;
      }
    }
    for (Unmatched f : fused) {
      if (f.nodeIndex() < nodeIndex) {
        before++;
      }
    }
    return before;
  }

  private static Optional<Candidate> match(GraphIndex idx, int index, NodeProto softmax) {
    // Downstream: the tensor that feeds MatMul(P, V).
    String cur = softmax.getOutput(0);
    NodeProto pv = null;
    for (int step = 0; step < 8 && pv == null; step++) {
      List<NodeProto> cons = idx.consumers(cur);
      String next = null;
      for (NodeProto c : cons) {
        if (isPlainProduct(c) && c.getInput(0).equals(cur)) {
          pv = c;
          break;
        }
      }
      if (pv != null) {
        break;
      }
      for (NodeProto c : cons) {
        if (DOWNSTREAM_SKIP.contains(c.getOpType()) && c.getInput(0).equals(cur)) {
          next = c.getOutput(0);
          break;
        }
        if (c.getOpType().equals("Where")
            && c.getInputCount() == 3
            && (c.getInput(1).equals(cur) || c.getInput(2).equals(cur))) {
          Optional<NodeProto> cond = idx.producer(c.getInput(0));
          if (cond.isPresent() && cond.get().getOpType().equals("IsNaN")) {
            next = c.getOutput(0);
            break;
          }
        }
      }
      if (next == null) {
        break;
      }
      cur = next;
    }
    if (pv == null) {
      return Optional.empty();
    }
    String probabilities = cur;
    // Upstream: masks and scale down to MatMul(Q, K^T).
    List<String> masks = new ArrayList<>();
    double scale = 1.0;
    String scaleForm = "none";
    String scaledScores = null;
    boolean keyTransposedByQk = false;
    String t = softmax.getInput(0);
    NodeProto qk = null;
    for (int step = 0; step < 12 && qk == null; step++) {
      Optional<NodeProto> p = idx.producer(t);
      if (p.isEmpty()) {
        return Optional.empty();
      }
      NodeProto n = p.get();
      if (isMatMul(n)) {
        if (idx.isInitializer(n.getInput(0)) || idx.isInitializer(n.getInput(1))) {
          return Optional.empty();
        }
        if (isFusedMatMul(n)) {
          if (GraphIndex.intAttribute(n, "transA", 0) != 0
              || GraphIndex.intAttribute(n, "transBatchA", 0) != 0
              || GraphIndex.intAttribute(n, "transBatchB", 0) != 0) {
            return Optional.empty();
          }
          double alpha = floatAttribute(n, "alpha", 1.0);
          if (alpha != 1.0) {
            scale *= alpha;
            scaleForm = "fused";
          }
          keyTransposedByQk = GraphIndex.intAttribute(n, "transB", 0) != 0;
        }
        qk = n;
        if (scaledScores == null) {
          scaledScores = t;
        }
        break;
      }
      switch (n.getOpType()) {
        case "Cast":
        case "Identity":
          t = n.getInput(0);
          break;
        case "Mul":
        case "Div":
          {
            double c0 = idx.scalarConstant(n.getInput(0));
            double c1 = idx.scalarConstant(n.getInput(1));
            if (!Double.isNaN(c1) || (!Double.isNaN(c0) && n.getOpType().equals("Mul"))) {
              double c = Double.isNaN(c1) ? c0 : c1;
              scale *= n.getOpType().equals("Div") ? 1.0 / c : c;
              scaleForm = n.getOpType().equals("Div") ? "div" : "mul";
              if (scaledScores == null) {
                scaledScores = t;
              }
              t = Double.isNaN(c1) ? n.getInput(1) : n.getInput(0);
            } else {
              int s = scoreOperand(idx, n);
              if (s < 0) {
                return Optional.empty();
              }
              if (n.getOpType().equals("Div") || shapeDerived(idx, n.getInput(1 - s), 12)) {
                // a scale computed at run time (e.g. Sqrt of a Shape-derived head dim): measured by
                // the probe run
                scaleForm = n.getOpType().equals("Div") ? "div" : "mul";
                if (scaledScores == null) {
                  scaledScores = t;
                }
                scale = Double.NaN;
              } else {
                masks.add(
                    n.getInput(1 - s)); // a multiplicative mask (old GPT-2: w * b − 1e4 · (1 − b))
              }
              t = n.getInput(s);
            }
            break;
          }
        case "Add":
        case "Sub":
          {
            int s = scoreOperand(idx, n);
            if (s < 0 || (n.getOpType().equals("Sub") && s != 0)) {
              return Optional.empty();
            }
            masks.add(n.getInput(1 - s));
            t = n.getInput(s);
            break;
          }
        case "Where":
          {
            if (n.getInputCount() != 3) {
              return Optional.empty();
            }
            boolean c1 = !Double.isNaN(idx.scalarConstant(n.getInput(1)));
            boolean c2 = !Double.isNaN(idx.scalarConstant(n.getInput(2)));
            masks.add(n.getInput(0));
            if (c2 && !c1) {
              t = n.getInput(1);
            } else if (c1 && !c2) {
              t = n.getInput(2);
            } else {
              int s =
                  reachesMatMul(idx, n.getInput(1), 6) <= reachesMatMul(idx, n.getInput(2), 6)
                      ? 1
                      : 2;
              t = n.getInput(s);
            }
            break;
          }
        case "Tanh":
          t = n.getInput(0);
          break;
        default:
          return Optional.empty();
      }
    }
    if (qk == null) {
      return Optional.empty();
    }
    String query = qk.getInput(0);
    String keyT = qk.getInput(1);
    // A scale on the operands: √s on both (torch SDPA symbolic), or s on one of them (q * scale
    // before Q·Kᵀ).
    double[] qs = idx.producer(query).map(n -> operandScale(idx, n)).orElse(null);
    double[] ks = idx.producer(keyT).map(n -> operandScale(idx, n)).orElse(null);
    if (qs != null || ks != null) {
      if (qs != null) {
        scale *= qs[0];
        query = idx.producer(query).get().getInput((int) qs[1]);
      }
      if (ks != null) {
        scale *= ks[0];
        keyT = idx.producer(keyT).get().getInput((int) ks[1]);
      }
      scaleForm = qs != null && ks != null ? "split" : qs != null ? "query" : "key";
    }
    return Optional.of(
        new Candidate(
            index,
            softmax,
            probabilities,
            pv,
            qk,
            query,
            keyT,
            scale,
            scaleForm,
            scaledScores,
            List.copyOf(masks),
            keyTransposedByQk));
  }

  /**
   * True when {@code tensor} is computed from tensor shapes and scalar constants only (Shape →
   * Gather → Cast → Sqrt → Reciprocal …), i.e. a run-time scale rather than a mask.
   */
  private static boolean shapeDerived(GraphIndex idx, String tensor, int budget) {
    double[] c = idx.constantValues(tensor);
    if (c != null) {
      return c.length <= 8; // scalars and small index vectors, not mask tables
    }
    Optional<NodeProto> p = idx.producer(tensor);
    if (budget < 0 || p.isEmpty()) {
      return false;
    }
    NodeProto n = p.get();
    if (n.getOpType().equals("Shape") || n.getOpType().equals("Size")) {
      return true;
    }
    if (n.getInputCount() == 0 || isMatMul(n)) {
      return false;
    }
    for (String in : n.getInputList()) {
      if (!in.isEmpty() && !shapeDerived(idx, in, budget - 1)) {
        return false;
      }
    }
    return true;
  }

  /**
   * For Mul(x, c), Mul(c, x) or Div(x, c) with a scalar constant c: {factor, index of x}; else
   * null.
   */
  private static double[] operandScale(GraphIndex idx, NodeProto n) {
    if (n.getInputCount() != 2) {
      return null;
    }
    if (n.getOpType().equals("Div")) {
      double c1 = idx.scalarConstant(n.getInput(1));
      return Double.isNaN(c1) || c1 == 0 ? null : new double[] {1.0 / c1, 0};
    }
    if (!n.getOpType().equals("Mul")) {
      return null;
    }
    double c1 = idx.scalarConstant(n.getInput(1));
    if (!Double.isNaN(c1)) {
      return new double[] {c1, 0};
    }
    double c0 = idx.scalarConstant(n.getInput(0));
    return Double.isNaN(c0) ? null : new double[] {c0, 1};
  }

  /**
   * Which input of a binary node carries the scores (the one that reaches MatMul(Q,Kᵀ) soonest), or
   * -1.
   */
  private static int scoreOperand(GraphIndex idx, NodeProto n) {
    int d0 = reachesMatMul(idx, n.getInput(0), 6);
    int d1 = reachesMatMul(idx, n.getInput(1), 6);
    if (d0 == Integer.MAX_VALUE && d1 == Integer.MAX_VALUE) {
      return -1;
    }
    return d0 <= d1 ? 0 : 1;
  }

  /**
   * Steps from {@code tensor} up to a MatMul of two activations through score-path ops, or
   * MAX_VALUE.
   */
  private static int reachesMatMul(GraphIndex idx, String tensor, int budget) {
    if (budget < 0) {
      return Integer.MAX_VALUE;
    }
    Optional<NodeProto> p = idx.producer(tensor);
    if (p.isEmpty()) {
      return Integer.MAX_VALUE;
    }
    NodeProto n = p.get();
    if (isMatMul(n)) {
      return idx.isInitializer(n.getInput(0)) || idx.isInitializer(n.getInput(1))
          ? Integer.MAX_VALUE
          : 0;
    }
    if (!SCORE_PATH.contains(n.getOpType())) {
      return Integer.MAX_VALUE;
    }
    int best = Integer.MAX_VALUE;
    for (String in : n.getInputList()) {
      int d = reachesMatMul(idx, in, budget - 1);
      if (d != Integer.MAX_VALUE) {
        best = Math.min(best, d + 1);
      }
    }
    return best;
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Probe run

  private static List<AttentionBlock> probe(
      OnnxModel model,
      ModelProto proto,
      GraphIndex idx,
      List<Candidate> candidates,
      int opset,
      List<Candidate> rejected) {
    ModelInputs inputs = ModelInputs.of(proto.getGraph());
    ModelLimits limits = ModelLimits.of(proto.getGraph(), inputs);
    LinkedHashSet<String> exposed = new LinkedHashSet<>();
    for (Candidate c : candidates) {
      exposed.add(c.probabilities);
      exposed.add(c.pv.getInput(1));
      exposed.add(c.pv.getOutput(0));
      exposed.add(c.query);
      exposed.add(c.keyT);
      if (c.scaledScores != null) {
        exposed.add(c.scaledScores);
      }
    }
    Map<String, String> names = new HashMap<>();
    ModelProto probeModel = exposeAsFloat(proto, exposed, names);
    int seq = staticSequenceLength(proto.getGraph(), inputs.inputIds()).orElse(PROBE_LENGTH);
    long vocab = limits.vocabSize() > 2 ? limits.vocabSize() : 100;
    long[][] ids = new long[1][seq];
    long[][] mask = new long[1][seq];
    Random rnd = new Random(17);
    for (int j = 0; j < seq; j++) {
      ids[0][j] = 1 + rnd.nextInt((int) Math.min(vocab - 1, 1000));
      mask[0][j] = 1;
    }
    Map<String, float[]> values = new HashMap<>();
    Map<String, long[]> shapes = new HashMap<>();
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    try (OrtSession.SessionOptions opts = new OrtSession.SessionOptions()) {
      opts.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.BASIC_OPT);
      opts.setIntraOpNumThreads(1);
      try (OrtSession session = OrtModels.session(model, probeModel, opts)) {
        Map<String, OnnxTensor> feeds = ModelFeeds.create(env, inputs, ids, mask);
        try (OrtSession.Result r = session.run(feeds, new LinkedHashSet<>(names.values()))) {
          for (Map.Entry<String, String> e : names.entrySet()) {
            Optional<OnnxValue> v = r.get(e.getValue());
            OnnxTensor tensor = (OnnxTensor) v.orElseThrow();
            shapes.put(e.getKey(), tensor.getInfo().getShape());
            FloatBuffer fb = tensor.getFloatBuffer();
            float[] arr = new float[fb.remaining()];
            fb.get(arr);
            values.put(e.getKey(), arr);
          }
        } finally {
          feeds.values().forEach(OnnxTensor::close);
        }
      }
    } catch (OrtException e) {
      throw new HeadwiseException(
          "ONNX Runtime failed on a probe run of model "
              + model.source()
              + ": "
              + OrtModels.firstLine(e.getMessage()),
          e);
    }
    List<AttentionBlock> blocks = new ArrayList<>();
    for (Candidate c : candidates) {
      long[] ps = shapes.get(c.probabilities);
      long axis = GraphIndex.intAttribute(c.softmax, "axis", opset >= 13 ? -1 : 1);
      boolean lastAxis = axis == -1 || axis == ps.length - 1;
      if (ps.length < 3 || ps[ps.length - 1] != seq || ps[ps.length - 2] != seq || !lastAxis) {
        continue; // a Softmax that is not over attention scores
      }
      if (ps.length != 4) {
        rejected.add(c); // attention, but not in the [B, H, Tq, Tk] form the statistics read
        continue;
      }
      int heads = (int) ps[1];
      long[] vs = shapes.get(c.pv.getInput(1));
      int headDim = (int) vs[vs.length - 1];
      int kvHeads =
          kvHeads(heads, vs, values.get(c.pv.getInput(1)), shapes.get(c.keyT), values.get(c.keyT));
      boolean causal = isCausal(values.get(c.probabilities), heads, seq);
      double scale = c.structuralScale;
      if (Double.isNaN(scale) && c.scaledScores != null) {
        scale =
            measureScale(
                values.get(c.query),
                shapes.get(c.query),
                values.get(c.keyT),
                shapes.get(c.keyT),
                values.get(c.scaledScores),
                c.keyIsTransposedByQk);
      }
      ElementType elemType = idx.elemTypeOrFloat(c.probabilities);
      blocks.add(
          new AttentionBlock(
              blocks.size(),
              c.softmax.getName(),
              c.softmax.getInput(0),
              c.probabilities,
              c.pv.getName(),
              c.pv.getInput(1),
              c.pv.getOutput(0),
              c.qk.getName(),
              c.query,
              c.keyT,
              scale,
              c.scaleForm,
              c.masks,
              heads,
              kvHeads,
              headDim,
              causal,
              elemType,
              c.keyIsTransposedByQk));
    }
    return blocks;
  }

  /**
   * A copy of {@code proto} where each tensor in {@code tensors} is also a float graph output;
   * {@code names} receives the output name of each tensor.
   */
  public static ModelProto exposeAsFloat(
      ModelProto proto, Set<String> tensors, Map<String, String> names) {
    GraphProto.Builder g = proto.getGraph().toBuilder();
    for (String t : tensors) {
      String out = "hw_probe/" + t;
      names.put(t, out);
      g.addNode(
          NodeProto.newBuilder()
              .setOpType("Cast")
              .setName("hw_probe_cast/" + t)
              .addInput(t)
              .addOutput(out)
              .addAttribute(
                  AttributeProto.newBuilder()
                      .setName("to")
                      .setType(AttributeProto.AttributeType.INT)
                      .setI(ElementType.FLOAT.code())));
      g.addOutput(
          ValueInfoProto.newBuilder()
              .setName(out)
              .setType(
                  TypeProto.newBuilder()
                      .setTensorType(
                          TypeProto.Tensor.newBuilder().setElemType(ElementType.FLOAT.code()))));
    }
    return proto.toBuilder().setGraph(g).build();
  }

  private static Optional<Integer> staticSequenceLength(GraphProto graph, String inputIds) {
    for (ValueInfoProto v : graph.getInputList()) {
      if (v.getName().equals(inputIds)) {
        List<TensorShapeProto.Dimension> dims = v.getType().getTensorType().getShape().getDimList();
        if (dims.size() == 2 && dims.get(1).hasDimValue() && dims.get(1).getDimValue() > 1) {
          return Optional.of((int) dims.get(1).getDimValue());
        }
      }
    }
    return Optional.empty();
  }

  /**
   * Kv heads from the probe: if V (or Kᵀ) has fewer heads than P, that count; otherwise the largest
   * group g such that every head's V and Kᵀ equal those of the first head of its group (repeat_kv
   * copies them exactly).
   */
  static int kvHeads(int heads, long[] vShape, float[] v, long[] kShape, float[] k) {
    if (vShape.length == 4 && vShape[1] < heads && vShape[1] > 0 && heads % vShape[1] == 0) {
      return (int) vShape[1];
    }
    if (kShape != null
        && kShape.length == 4
        && kShape[1] < heads
        && kShape[1] > 0
        && heads % kShape[1] == 0) {
      return (int) kShape[1];
    }
    for (int g = heads; g >= 1; g--) {
      if (heads % g != 0) {
        continue;
      }
      if (groupedCopies(heads, g, vShape, v)
          && (kShape == null || groupedCopies(heads, g, kShape, k))) {
        return heads / g;
      }
    }
    return heads;
  }

  private static boolean groupedCopies(int heads, int g, long[] shape, float[] x) {
    if (g == 1) {
      return true;
    }
    if (shape.length != 4 || shape[1] != heads) {
      return false;
    }
    int per = (int) (shape[2] * shape[3]);
    for (int h = 0; h < heads; h++) {
      int base = (h / g) * g;
      if (h == base) {
        continue;
      }
      for (int i = 0; i < per; i++) {
        if (Float.floatToIntBits(x[h * per + i]) != Float.floatToIntBits(x[base * per + i])) {
          return false;
        }
      }
    }
    return true;
  }

  /** True when every head puts (numerically) no mass on later keys. */
  static boolean isCausal(float[] p, int heads, int t) {
    double upper = 0;
    for (int h = 0; h < heads; h++) {
      for (int i = 0; i < t; i++) {
        for (int j = i + 1; j < t; j++) {
          upper = Math.max(upper, p[(h * t + i) * t + j]);
        }
      }
    }
    return upper < 1e-6;
  }

  /**
   * scale = scaled scores / (Q·Kᵀ), read at the element of largest |Q·Kᵀ| of head 0; {@code kIsK}
   * when the key operand is K [.., Tk, D] rather than Kᵀ [.., D, Tk].
   */
  static double measureScale(
      float[] q, long[] qs, float[] kt, long[] ks, float[] scores, boolean kIsK) {
    if (q == null || kt == null || scores == null || qs.length != 4 || ks.length != 4) {
      return Double.NaN;
    }
    int t = (int) qs[2];
    int d = (int) qs[3];
    int tk = (int) (kIsK ? ks[2] : ks[3]);
    double best = 0;
    int bi = 0;
    int bj = 0;
    double dot = 0;
    for (int i = 0; i < t; i++) {
      for (int j = 0; j < tk; j++) {
        double s = 0;
        for (int x = 0; x < d; x++) {
          s += q[i * d + x] * (kIsK ? kt[j * d + x] : kt[x * tk + j]);
        }
        if (Math.abs(s) > best) {
          best = Math.abs(s);
          bi = i;
          bj = j;
          dot = s;
        }
      }
    }
    return best == 0 ? Double.NaN : scores[bi * tk + bj] / dot;
  }
}
