package io.headwise.export.attention;

import ai.onnx.proto.OnnxMl.NodeProto;
import io.headwise.graph.AttentionBlock;
import io.headwise.graph.GraphBuilder;
import io.headwise.graph.GraphIndex;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.IntFunction;

/**
 * Turns the score path of a block (every op between {@code MatMul(Q, Kᵀ)} and the Softmax) into one
 * additive mask.
 *
 * <p>The path is replayed with the QK product replaced by zero: {@code Add(s, m)} contributes
 * {@code m}, {@code Sub(s, m)} contributes {@code −m}, {@code Where(c, s, x)} becomes {@code
 * Where(c, 0, x)} (a Where-style mask becomes additive), scale {@code Mul}/{@code Div} and {@code
 * Cast}/{@code Identity} pass the replayed value through. The op then computes {@code scale·Q·Kᵀ +
 * mask}, which equals the model's scores wherever they are not masked; where a {@code Where} masks
 * to a constant c, the op has {@code s + c}, equal to c in float32 for the large negative constants
 * exporters use (finfo.min, −1e9, −inf) and giving zero probability either way. A multiplicative
 * mask (old GPT-2, {@code s·b − 1e4·(1 − b)}) becomes the additive {@code −1e4·(1 − b)}, with the
 * same probabilities as long as the masked logits underflow.
 *
 * <p>Soft-capping is read, not replayed: a {@code Div(c) → Tanh → Mul(c)} (or {@code Mul(1/c) →
 * Tanh → Mul(c)}) on the score path, with only scale ops, Cast and Identity before it, is taken out
 * of the path and its c reported by {@link #softcap()} for the op's {@code softcap} attribute. Any
 * other {@code Tanh} (a mask before it, constants that do not cancel, no constant) and anything
 * else that is not affine in the scores is refused.
 *
 * <p>Replayed nodes are shared: a second layer whose mask is built from the same tensors by the
 * same ops reuses the first layer's output (models share one mask across layers).
 */
final class ScoreMask {
  private static final Set<String> PATH_OPS =
      Set.of("Add", "Sub", "Mul", "Div", "Where", "Cast", "Identity");
  private static final Set<String> SHAPE_ONLY = Set.of("Shape", "Size");
  private static final int REACH_DEPTH = 16;

  private final GraphIndex index;
  private final IntFunction<String> zeroOf;
  private final Map<String, String> replayed;
  private final List<NodeProto> emitted = new ArrayList<>();
  private double softcap;
  private int counter;

  /**
   * @param zeroOf the name of a scalar 0 of the given ONNX element type available to the graph (an
   *     initializer); a score path of a float16 model replays in float16 until its Cast
   * @param replayed memo of replayed nodes (signature → output) shared across layers
   */
  ScoreMask(GraphIndex index, IntFunction<String> zeroOf, Map<String, String> replayed) {
    this.index = index;
    this.zeroOf = zeroOf;
    this.replayed = replayed;
  }

  /** Nodes emitted by the last {@link #additiveMask} call, in order. */
  List<NodeProto> emitted() {
    return emitted;
  }

  /** The soft-cap constant read by the last {@link #additiveMask} call (0: none). */
  double softcap() {
    return softcap;
  }

  /**
   * The additive float32 mask of {@code block} (a tensor name; the float zero when the path holds
   * no mask); the nodes to insert before the op are in {@link #emitted()}. The path is replayed in
   * the element type the scores have at each node: the QK product's type (the probabilities' type,
   * which the locator reads) until a {@code Cast} changes it; a mask that ends in another type than
   * float32 gets a final {@code Cast} to float32, the type the op computes in.
   */
  String additiveMask(AttentionBlock block, String qkOutput) {
    emitted.clear();
    softcap = 0;
    List<NodeProto> chain = new ArrayList<>();
    List<Integer> scoreInputs = new ArrayList<>();
    String t = block.scoresTensor();
    while (!t.equals(qkOutput)) {
      Optional<NodeProto> p = index.producer(t);
      if (p.isEmpty()) {
        throw AttentionCoreRewriter.refuse(block, "the scores do not come from the QK MatMul");
      }
      NodeProto n = p.get();
      if (n.getOpType().equals("Tanh")) {
        chain.add(n);
        scoreInputs.add(0);
        t = n.getInput(0);
        continue;
      }
      if (!PATH_OPS.contains(n.getOpType())
          || !n.getDomain().isEmpty() && !n.getDomain().equals("ai.onnx")) {
        throw AttentionCoreRewriter.refuse(
            block, "the score path holds a " + n.getOpType() + " node (" + n.getName() + ")");
      }
      int s = -1;
      for (int i = 0; i < n.getInputCount(); i++) {
        if (reaches(n.getInput(i), qkOutput, REACH_DEPTH)) {
          if (s >= 0) {
            throw AttentionCoreRewriter.refuse(
                block, "node " + n.getName() + " takes the scores on two inputs");
          }
          s = i;
        }
      }
      if (s < 0) {
        throw AttentionCoreRewriter.refuse(
            block, "node " + n.getName() + " on the score path does not read the scores");
      }
      if (n.getOpType().equals("Sub") && s != 0
          || n.getOpType().equals("Div") && s != 0
          || n.getOpType().equals("Where") && s == 0) {
        throw AttentionCoreRewriter.refuse(
            block, "node " + n.getName() + " (" + n.getOpType() + ") is not affine in the scores");
      }
      chain.add(n);
      scoreInputs.add(s);
      t = n.getInput(s);
    }
    Collections.reverse(chain);
    Collections.reverse(scoreInputs);
    takeSoftcap(block, chain, scoreInputs);
    String value = null; // null: the replayed value is zero
    int type = block.probabilitiesType().code();
    for (int c = 0; c < chain.size(); c++) {
      NodeProto n = chain.get(c);
      int s = scoreInputs.get(c);
      switch (n.getOpType()) {
        case "Cast":
          type =
              (int)
                  n.getAttributeList().stream()
                      .filter(a -> a.getName().equals("to"))
                      .findFirst()
                      .orElseThrow(
                          () ->
                              AttentionCoreRewriter.refuse(
                                  block, "Cast node " + n.getName() + " has no 'to'"))
                      .getI();
          if (value != null) {
            value = emit(n, s, value);
          }
          break;
        case "Identity":
        case "Mul":
        case "Div":
          if (value != null) {
            value = emit(n, s, value);
          }
          break;
        case "Add":
          value = value == null ? n.getInput(1 - s) : emit(n, s, value);
          break;
        case "Sub":
          value =
              value == null
                  ? emit(
                      NodeProto.newBuilder()
                          .setOpType("Neg")
                          .addInput(n.getInput(1))
                          .addOutput("")
                          .build(),
                      0,
                      n.getInput(1))
                  : emit(n, s, value);
          break;
        case "Where":
          value = emit(n, s, value == null ? zeroOf.apply(type) : value);
          break;
        default:
          throw new IllegalStateException(n.getOpType());
      }
    }
    if (value == null) {
      return zeroOf.apply(GraphBuilder.FLOAT);
    }
    if (type != GraphBuilder.FLOAT) {
      value =
          emit(
              NodeProto.newBuilder()
                  .setOpType("Cast")
                  .addInput(value)
                  .addOutput("")
                  .addAttribute(GraphBuilder.intAttr("to", GraphBuilder.FLOAT))
                  .build(),
              0,
              value);
    }
    return value;
  }

  /**
   * Reads and removes the soft-cap {@code Div(c)|Mul(1/c) → Tanh → Mul(c)} from {@code chain}
   * (forward order), or refuses a Tanh in any other form. Before the Div only ops that the op's
   * scale already covers may stand (scalar Mul/Div, Cast, Identity): a mask added before the
   * soft-cap would be squashed by the Tanh, which an additive mask after it cannot express. The
   * locator folds every scalar factor of the path into the block's scale, so the Div and the final
   * Mul must cancel (relative 1e-6) for that scale to be the one before the cap.
   */
  private void takeSoftcap(AttentionBlock block, List<NodeProto> chain, List<Integer> inputs) {
    int at = -1;
    for (int c = 0; c < chain.size(); c++) {
      if (chain.get(c).getOpType().equals("Tanh")) {
        if (at >= 0) {
          throw AttentionCoreRewriter.refuse(
              block, "the score path holds two Tanh nodes (soft-capping pattern not recognised)");
        }
        at = c;
      }
    }
    if (at < 0) {
      return;
    }
    NodeProto tanh = chain.get(at);
    String pattern =
        "the scores are soft-capped by Tanh node "
            + tanh.getName()
            + " in a form headwise cannot read (expected Div(c) or Mul(1/c) → Tanh → Mul(c) on"
            + " the scaled scores, before any mask): ";
    if (at == 0 || at == chain.size() - 1) {
      throw AttentionCoreRewriter.refuse(block, pattern + "no scalar op on both sides");
    }
    NodeProto pre = chain.get(at - 1);
    NodeProto post = chain.get(at + 1);
    double inner = scalarFactor(pre, inputs.get(at - 1));
    double outer = scalarFactor(post, inputs.get(at + 1));
    if (Double.isNaN(inner) || Double.isNaN(outer) || !pre.getOpType().matches("Mul|Div")) {
      throw AttentionCoreRewriter.refuse(
          block, pattern + pre.getName() + " or " + post.getName() + " is not a scalar factor");
    }
    if (!post.getOpType().equals("Mul")
        || outer <= 0
        || Math.abs(inner * outer - 1) > 1e-6
        || !Double.isFinite(outer)) {
      throw AttentionCoreRewriter.refuse(
          block,
          pattern
              + "factor "
              + inner
              + " before and "
              + outer
              + " after the Tanh do not form softcap·tanh(s/softcap)");
    }
    for (int c = 0; c < at - 1; c++) {
      NodeProto n = chain.get(c);
      boolean scale =
          n.getOpType().matches("Mul|Div") && !Double.isNaN(scalarFactor(n, inputs.get(c)));
      if (!scale && !n.getOpType().matches("Cast|Identity")) {
        throw AttentionCoreRewriter.refuse(
            block, pattern + "node " + n.getName() + " (" + n.getOpType() + ") precedes the cap");
      }
    }
    softcap = outer;
    chain.subList(at - 1, at + 2).clear();
    inputs.subList(at - 1, at + 2).clear();
  }

  /**
   * The factor a scalar-constant Mul or Div applies to its score input {@code s} (1/c for Div), or
   * NaN when the other operand is not a scalar constant or the node is neither.
   */
  private double scalarFactor(NodeProto n, int s) {
    if (!n.getOpType().matches("Mul|Div") || n.getInputCount() != 2) {
      return Double.NaN;
    }
    double c = index.scalarConstant(n.getInput(1 - s));
    return n.getOpType().equals("Div") ? 1.0 / c : c;
  }

  /**
   * A copy of {@code n} with input {@code s} replaced by {@code input}, or the output of an
   * identical earlier copy.
   */
  private String emit(NodeProto n, int s, String input) {
    NodeProto.Builder copy =
        NodeProto.newBuilder()
            .setOpType(n.getOpType())
            .setDomain(n.getDomain())
            .addAllAttribute(n.getAttributeList());
    for (int i = 0; i < n.getInputCount(); i++) {
      copy.addInput(i == s ? input : n.getInput(i));
    }
    String signature = copy.build().toString();
    String existing = replayed.get(signature);
    if (existing != null) {
      return existing;
    }
    String out = "hw_attn/mask/" + n.getOpType() + "_" + (replayed.size()) + "_" + (counter++);
    copy.setName(out).addOutput(out);
    emitted.add(copy.build());
    replayed.put(signature, out);
    return out;
  }

  /**
   * True when the values of {@code tensor} depend on {@code target} within {@code depth} nodes (a
   * mask built from the scores' Shape does not depend on their values).
   */
  private boolean reaches(String tensor, String target, int depth) {
    Set<String> seen = new HashSet<>();
    List<String> frontier = List.of(tensor);
    for (int d = 0; d <= depth && !frontier.isEmpty(); d++) {
      List<String> next = new ArrayList<>();
      for (String t : frontier) {
        if (t.equals(target)) {
          return true;
        }
        if (t.isEmpty() || !seen.add(t)) {
          continue;
        }
        index
            .producer(t)
            .filter(p -> !SHAPE_ONLY.contains(p.getOpType()))
            .ifPresent(p -> next.addAll(p.getInputList()));
      }
      frontier = next;
    }
    return false;
  }
}
