package io.headwise.export.attention;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.TypeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import io.headwise.graph.GraphBuilder;
import java.util.List;

/**
 * The two {@code If} branches of the HeadwiseAttention body ({@link HeadwiseAttentionFunction}):
 * the H2O-style keep mask of budget heads and RazorAttention's compensation entry. Each is taken
 * only when some head needs it, so each is a subgraph of its own; kept apart from the main body so
 * the body reads as the formula in its class doc.
 */
final class HeadwiseAttentionBranches {
  private HeadwiseAttentionBranches() {}

  /**
   * The H2O-style selection of budget heads, static per query: for query i (n = i + 1 keys), keep
   * every key when n ≤ budget; otherwise the {@code recent} most recent keys plus the top (budget −
   * recent) older keys by attention accumulated over the earlier queries i' &lt; i of the dense
   * (plan-free) probabilities, averaged over the query heads of a budget group; ties go to the
   * lower key index.
   */
  static GraphProto budget(
      BodyBuilder b,
      String scores,
      String order,
      String dist,
      String n,
      String tkF,
      String kinds,
      String kinds3,
      String budgetKind,
      String budget,
      String recent,
      String groups,
      String zeroF,
      String oneF,
      String zeroL,
      String oneL) {
    String dense =
        b.op("Softmax", "dense_probs", List.of(scores), GraphBuilder.intAttr("axis", -1));
    // Group averaging matrix avg[h', h] = [group(h') = group(h)] / |group(h)|.
    String numHeads = b.element(b.op("Shape", "kinds_shape", kinds), 0);
    String headIndex = b.op("Range", "head_index", zeroL, numHeads, oneL);
    String group = b.where(b.less(groups, zeroL), headIndex, groups);
    String same =
        b.cast(
            b.op("Equal", "same_group", b.reshape(group, -1, 1), b.reshape(group, 1, -1)),
            GraphBuilder.FLOAT);
    String average = b.op("Div", "group_average", same, b.reduceSum(same, true, 0));
    String headsLast = b.transpose(dense, 0, 2, 3, 1);
    String grouped = b.transpose(b.op("MatMul", "grouped", headsLast, average), 0, 3, 1, 2);
    String accumulated =
        b.op(
            "CumSum",
            "accumulated",
            List.of(grouped, b.longScalar("query_axis", 2)),
            GraphBuilder.intAttr("exclusive", 1),
            GraphBuilder.intAttr("reverse", 0));

    String budget3 = b.reshape(b.cast(budget, GraphBuilder.FLOAT), -1, 1, 1);
    String recent3 = b.reshape(b.cast(recent, GraphBuilder.FLOAT), -1, 1, 1);
    String isRecent = b.less(dist, recent3); // [H, Tq, Tk]
    String fits = b.not(b.op("Greater", "over_budget", n, budget3)); // [H, Tq, 1]
    String candidate = b.and(order, b.not(isRecent));
    String candidateScore = b.where(candidate, accumulated, b.floatScalar("not_candidate", -1f));
    String heavy = b.op("Sub", "heavy", budget3, recent3); // [H, 1, 1]
    String heavyMax = b.reduceMaxAll(heavy);
    String kF = b.op("Max", "k_at_least_1", b.op("Min", "k_at_most_tk", heavyMax, tkF), oneF);
    String topK = b.reshape(b.cast(kF, GraphBuilder.INT64), 1);
    String topValues = b.fresh("top_values");
    String topIndices = b.fresh("top_indices");
    b.node(
        "TopK",
        List.of(candidateScore, topK),
        List.of(topValues, topIndices),
        GraphBuilder.intAttr("axis", -1),
        GraphBuilder.intAttr("largest", 1),
        GraphBuilder.intAttr("sorted", 1));
    String rank = b.op("Range", "rank", zeroF, kF, oneF); // [k]
    String selected = b.and(b.less(rank, heavy), b.not(b.less(topValues, zeroF)));
    String zeros = b.op("ConstantOfShape", "zeros", b.op("Shape", "score_shape", candidateScore));
    String hits =
        b.op(
            "ScatterElements",
            "heavy_hits",
            List.of(zeros, topIndices, b.cast(selected, GraphBuilder.FLOAT)),
            GraphBuilder.intAttr("axis", -1));
    String isHeavy = b.op("Greater", "is_heavy", hits, b.floatScalar("half", 0.5f));
    String isBudget = b.op("Equal", "is_budget", kinds3, budgetKind);
    String keep = b.and(isBudget, b.or(fits, b.or(isRecent, isHeavy)));
    return boolGraph("budget", b, keep);
  }

  /**
   * RazorAttention's compensation entry, two outputs: its probability p_c [B, H, Tq, 1] and its
   * value mean(V_D) [B, H, Tq, Dv]. For a compensated streaming/elastic head, the D keys it drops
   * (order ∧ ¬keep; none for other heads) are summarised by one entry with key mean(K_D), value
   * mean(V_D) and logit scale·q·mean(K_D) + ln D (it stands for D tokens); q·mean(K_D) is the mean
   * of the dropped scaled scores, so the logit is read from the scores.
   */
  static GraphProto compensation(
      BodyBuilder b,
      String masked,
      String scaled,
      String order,
      String staticKeep,
      String isWindowed,
      String compensation,
      String oneCompensation,
      String tk,
      String valueH,
      String zeroF,
      String oneF) {
    String compensated =
        b.and(
            isWindowed,
            b.op(
                "Equal",
                "is_compensated",
                b.reshape(compensation, -1, 1, 1),
                oneCompensation)); // [H, 1, 1]
    String dropped =
        b.cast(
            b.and(b.and(order, compensated), b.not(staticKeep)), GraphBuilder.FLOAT); // [H,Tq,Tk]
    String count = b.reduceSum(dropped, true, -1); // [H, Tq, 1]
    String atLeastOne = b.op("Max", "count_at_least_1", count, oneF);
    String meanLogit =
        b.op(
            "Div",
            "mean_dropped_score",
            b.reduceSum(b.op("Mul", "dropped_scores", dropped, scaled), true, -1),
            atLeastOne); // [B, H, Tq, 1]
    String entryLogit =
        b.where(
            b.op("Greater", "has_dropped", count, b.floatScalar("half", 0.5f)),
            b.op("Add", "entry_logit", meanLogit, b.op("Log", "log_count", atLeastOne)),
            b.floatScalar("minus_inf", Float.NEGATIVE_INFINITY));
    String all =
        b.op("Concat", "with_entry", List.of(masked, entryLogit), GraphBuilder.intAttr("axis", -1));
    String probs = b.op("Softmax", "probs", List.of(all), GraphBuilder.intAttr("axis", -1));
    String tk1 = b.reshape(tk, 1);
    // Slice before the NaN guard: a Softmax feeding a Where would read as an attention core inside
    // a branch to the
    // locator (which must still see the model's cores when a rewritten model is offered again, to
    // refuse it).
    String rawEntry =
        b.op(
            "Slice",
            "entry_prob",
            probs,
            tk1,
            b.op("Add", "tk_plus_1", tk1, b.longVector("one", 1)),
            b.longVector("last_axis", 3)); // [B, H, Tq, 1]
    String entry = b.where(b.op("IsNaN", "empty_row", rawEntry), zeroF, rawEntry);
    String meanValue =
        b.op("MatMul", "entry_value", b.op("Div", "dropped_share", dropped, atLeastOne), valueH);
    return GraphProto.newBuilder()
        .setName("compensation")
        .addAllNode(b.nodes())
        .addOutput(floatOutput(entry))
        .addOutput(floatOutput(meanValue))
        .build();
  }

  /** A float output of unspecified shape (an If branch's). */
  static ValueInfoProto floatOutput(String name) {
    return ValueInfoProto.newBuilder()
        .setName(name)
        .setType(
            TypeProto.newBuilder()
                .setTensorType(TypeProto.Tensor.newBuilder().setElemType(GraphBuilder.FLOAT)))
        .build();
  }

  /** A subgraph of {@code b}'s nodes with one bool output {@code out}. */
  static GraphProto boolGraph(String name, BodyBuilder b, String out) {
    return GraphProto.newBuilder()
        .setName(name)
        .addAllNode(b.nodes())
        .addOutput(
            ValueInfoProto.newBuilder()
                .setName(out)
                .setType(
                    TypeProto.newBuilder()
                        .setTensorType(
                            TypeProto.Tensor.newBuilder().setElemType(GraphBuilder.BOOL))))
        .build();
  }
}
