package io.headwise.export.quant.rotation;

import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import io.headwise.graph.GraphIndex;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * An RMSNorm as exported: {@code x → Pow(x, 2) (or Mul(x, x)) → ReduceMean(last axis) → Add(eps) →
 * Sqrt → Div(1, ·) (or Reciprocal) → Mul(x, ·) (or Div(x, Sqrt)) → [Cast] → Mul(γ)}, or one {@code
 * SimplifiedLayerNormalization} / {@code RMSNormalization} node.
 *
 * @param input the normalized tensor as the norm reads it (the residual stream or a Cast of it)
 * @param output the norm's output (after γ)
 * @param weight the 1-D initializer γ, or null for a weightless norm
 * @param weightNode name (or output) of the node applying γ, for messages
 */
record RmsNormMatch(String input, String output, String weight, String weightNode) {

  private static final Set<String> FUSED =
      Set.of("SimplifiedLayerNormalization", "RMSNormalization");

  /** The RMSNorm reading one of {@code aliases} (a tensor and its Casts), if any. */
  static Optional<RmsNormMatch> find(GraphIndex index, Set<String> aliases, int hidden) {
    for (String x : aliases) {
      for (NodeProto c : index.consumers(x)) {
        if (FUSED.contains(c.getOpType()) && c.getInput(0).equals(x)) {
          String w = c.getInputCount() > 1 ? c.getInput(1) : "";
          checkWeight(index, w, hidden, c);
          if (c.getInputCount() > 2 && !c.getInput(2).isEmpty()) {
            throw new RotationRefusedException(
                "norm " + name(c) + " has a bias input; rotation needs RMSNorm" + " without bias");
          }
          return Optional.of(new RmsNormMatch(x, c.getOutput(0), w.isEmpty() ? null : w, name(c)));
        }
        boolean square =
            c.getOpType().equals("Pow")
                    && c.getInput(0).equals(x)
                    && index.scalarConstant(c.getInput(1)) == 2.0
                || c.getOpType().equals("Mul")
                    && c.getInput(0).equals(x)
                    && c.getInput(1).equals(x);
        if (!square) {
          continue;
        }
        for (NodeProto mean : index.consumers(c.getOutput(0))) {
          if (!mean.getOpType().equals("ReduceMean")) {
            continue;
          }
          NodeProto scale = scaleNode(index, mean.getOutput(0), aliases);
          if (scale == null) {
            continue;
          }
          String normalized = throughCasts(index, scale.getOutput(0));
          List<NodeProto> users = nonShapeConsumers(index, normalized);
          if (users.size() == 1 && users.get(0).getOpType().equals("Mul")) {
            NodeProto mul = users.get(0);
            String w = mul.getInput(0).equals(normalized) ? mul.getInput(1) : mul.getInput(0);
            if (index.isInitializer(w)) {
              checkWeight(index, w, hidden, mul);
              return Optional.of(new RmsNormMatch(x, mul.getOutput(0), w, name(mul)));
            }
          }
          return Optional.of(new RmsNormMatch(x, normalized, null, name(scale)));
        }
      }
    }
    return Optional.empty();
  }

  /**
   * The Mul(x, 1/√·) or Div(x, √·) node fed by a ReduceMean through Add/Sqrt/Div/Reciprocal, within
   * a few steps.
   */
  private static NodeProto scaleNode(GraphIndex index, String meanOutput, Set<String> aliases) {
    Deque<String> queue = new ArrayDeque<>();
    Set<String> seen = new HashSet<>();
    queue.add(meanOutput);
    seen.add(meanOutput);
    int steps = 0;
    while (!queue.isEmpty() && steps++ < 16) {
      String t = queue.poll();
      for (NodeProto n : index.consumers(t)) {
        String op = n.getOpType();
        if ((op.equals("Mul") || op.equals("Div"))
            && n.getInputCount() == 2
            && (aliases.contains(n.getInput(0)) || aliases.contains(n.getInput(1)))) {
          return n;
        }
        if (op.equals("Add")
            || op.equals("Sqrt")
            || op.equals("Div")
            || op.equals("Reciprocal")
            || op.equals("Cast")
            || op.equals("Pow")) {
          if (seen.add(n.getOutput(0))) {
            queue.add(n.getOutput(0));
          }
        }
      }
    }
    return null;
  }

  private static void checkWeight(GraphIndex index, String w, int hidden, NodeProto node) {
    if (w.isEmpty()) {
      return;
    }
    Optional<TensorProto> t = index.initializer(w);
    if (t.isEmpty() || t.get().getDimsCount() != 1 || t.get().getDims(0) != hidden) {
      throw new RotationRefusedException(
          "norm weight "
              + w
              + " of "
              + name(node)
              + " is not a 1-D initializer of "
              + hidden
              + " values; it cannot be folded into the following linear layers");
    }
  }

  /** {@code t}, or the output of the chain of single Cast consumers that follows it. */
  static String throughCasts(GraphIndex index, String t) {
    String cur = t;
    for (int i = 0; i < 4; i++) {
      List<NodeProto> users = nonShapeConsumers(index, cur);
      if (users.size() == 1 && users.get(0).getOpType().equals("Cast")) {
        cur = users.get(0).getOutput(0);
      } else {
        break;
      }
    }
    return cur;
  }

  static List<NodeProto> nonShapeConsumers(GraphIndex index, String t) {
    return index.consumers(t).stream()
        .filter(n -> !n.getOpType().equals("Shape") && !n.getOpType().equals("Size"))
        .toList();
  }

  static String name(NodeProto n) {
    return n.getName().isEmpty() ? n.getOpType() + " -> " + n.getOutput(0) : n.getName();
  }
}
