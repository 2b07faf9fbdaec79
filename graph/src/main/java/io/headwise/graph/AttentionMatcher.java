package io.headwise.graph;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * The structural half of {@link AttentionLocator}: recognises attention cores by the shape of the
 * graph alone. A candidate is a default-domain {@code Softmax} whose output (after Cast, Dropout,
 * Identity or an IsNaN→Where guard) is input 0 of a {@code MatMul(P, V)}, and whose input comes
 * (through additive masks, Where, Cast and a Mul/Div scale) from a {@code MatMul(Q, Kᵀ)} of two
 * activations, or ONNX Runtime's {@code com.microsoft FusedMatMul} in their place. What cannot be
 * told from the graph (head counts, grouping, causality, a scale that is not a constant) is left to
 * {@link AttentionProbe}. Also tells fused attention ops and attention inside control-flow bodies,
 * which are reported rather than profiled.
 *
 * <p>One class of about 450 lines on purpose: the downstream walk to P·V, the upstream walk through
 * the score path and the readers of the scale's form are one match of one pattern, and the helpers
 * have no other user.
 */
final class AttentionMatcher {
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
  static final Set<String> CONTROL_FLOW = Set.of("If", "Loop", "Scan");

  private static final String MS = "com.microsoft";

  private static final Set<String> DOWNSTREAM_SKIP = Set.of("Cast", "Dropout", "Identity");
  private static final Set<String> SCORE_PATH =
      Set.of("Add", "Sub", "Mul", "Div", "Cast", "Where", "Tanh", "Identity");

  private AttentionMatcher() {}

  /**
   * Structural candidate found before the probe run. {@code keyIsTransposedByQk} is true when the
   * QK node transposes its second input itself (FusedMatMul transB=1), so {@code keyT} is K [B, H,
   * Tk, D].
   */
  record Candidate(
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

  static boolean isFused(NodeProto n) {
    return FUSED.contains(n.getDomain() + "::" + n.getOpType());
  }

  static boolean isSoftmax(NodeProto n) {
    return n.getOpType().equals("Softmax")
        && (n.getDomain().isEmpty() || n.getDomain().equals("ai.onnx"));
  }

  /**
   * When a control-flow node's bodies hold attention (a fused attention op, or a Softmax feeding a
   * MatMul), a sentence saying so; null otherwise. Such attention is reported, not profiled.
   */
  static String nestedAttention(NodeProto controlFlow) {
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

  static Optional<Candidate> match(GraphIndex idx, int index, NodeProto softmax) {
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
}
