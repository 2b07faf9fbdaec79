package io.headwise.graph;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import io.headwise.graph.AttentionMatcher.Candidate;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
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
 * from names or symbolic shapes. The structural matching lives in {@link AttentionMatcher}, the
 * probe run in {@link AttentionProbe}; this class puts their results together.
 *
 * <p>Fused attention ops are listed as unsupported with their layer, and so is attention that
 * cannot be profiled: a Softmax→MatMul(P, V) core whose probabilities are not [B, H, Tq, Tk] (e.g.
 * [B·H, T, T] or a 5-D grouped form), and attention inside If/Loop/Scan bodies (e.g. Optimum's
 * merged decoders).
 */
public final class AttentionLocator {
  private static final Pattern LAYER_NUMBER = Pattern.compile("(?:layers?|h|blocks?)[._/](\\d+)");

  private AttentionLocator() {}

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
      if (AttentionMatcher.isFused(n)) {
        fused.add(new Unmatched(i, n, null));
        continue;
      }
      if (AttentionMatcher.isSoftmax(n)) {
        AttentionMatcher.match(idx, i, n).ifPresent(candidates::add);
      }
      if (AttentionMatcher.CONTROL_FLOW.contains(n.getOpType()) && n.getDomain().isEmpty()) {
        String nested = AttentionMatcher.nestedAttention(n);
        if (nested != null) {
          fused.add(new Unmatched(i, n, nested));
        }
      }
    }
    List<Candidate> rejected = new ArrayList<>();
    List<AttentionBlock> blocks =
        candidates.isEmpty()
            ? List.of()
            : AttentionProbe.probe(model, proto, idx, candidates, opset, rejected);
    for (Candidate c : rejected) {
      fused.add(
          new Unmatched(
              c.nodeIndex(),
              c.softmax(),
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
      if (c.nodeIndex() < nodeIndex) {
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
}
