package io.headwise.export.attention;

import io.headwise.export.attention.WindowedCacheAttention.Window;
import io.headwise.graph.GraphBuilder;
import java.util.List;

/**
 * RazorAttention's compensation entry for a windowed decode group over carried sums: for query i
 * the dropped set is every token the group has evicted (running sums of their keys and values and
 * their count, carried as caches) plus the entries of this call it does not keep (j ≤ i, ¬keep);
 * the entry's logit is the mean dropped scaled score + ln(count), its value the mean dropped value,
 * and out = (1 − p_c)·P·V + p_c·mean(V_D) as in the HeadwiseAttention body. The sums then take the
 * entries the next query no longer reaches. Its own class because it is the one part of a windowed
 * group that carries state beyond keys, values and positions.
 */
final class RazorCompensation {
  private RazorCompensation() {}

  /** The compensated output of a windowed group whose uncompensated output is {@code pv}. */
  static String apply(
      BodyBuilder b, DecodeCacheGroup g, String pre, String pv, Window w, float scale) {
    String past = DecodeCacheGroup.PAST;
    String sumK = past + g.name("sum_key");
    String sumV = past + g.name("sum_value");
    String pastCount = past + g.name("dropped");
    String sumKq = perQuery(b, pre + "sum_key_per_query", sumK, w.localHeads());
    String sumVq = perQuery(b, pre + "sum_value_per_query", sumV, w.localHeads());
    String vq = perQuery(b, pre + "comp_values", w.v(), w.localHeads());
    String dropped = b.cast(b.and(w.order(), b.not(w.keep())), GraphBuilder.FLOAT); // [S, L + S]
    String count = b.op("Add", pre + "count", pastCount, b.reduceSum(dropped, true, -1)); // [S, 1]
    String atLeastOne = b.op("Max", pre + "count_at_least_1", count, w.one());
    String pastLogits =
        DecodeOps.scaledScores(
            b,
            w.q(),
            sumKq,
            scale,
            pre + "past_dropped_scores",
            pre + "q_sum_key",
            pre + "comp_scale"); // [B, Hq, S, 1]
    String logitSum =
        b.op(
            "Add",
            pre + "dropped_score_sum",
            pastLogits,
            b.reduceSum(b.op("Mul", pre + "dropped_scores", dropped, w.scores()), true, -1));
    String entryLogit =
        b.where(
            b.op("Greater", pre + "has_dropped", count, b.floatScalar(pre + "half", 0.5f)),
            b.op(
                "Add",
                pre + "entry_logit",
                b.op("Div", pre + "mean_dropped_score", logitSum, atLeastOne),
                b.op("Log", pre + "log_count", atLeastOne)),
            w.minusInf());
    String all = b.concat(pre + "with_entry", -1, w.masked(), entryLogit);
    String probs =
        b.op("Softmax", pre + "entry_softmax", List.of(all), GraphBuilder.intAttr("axis", -1));
    String width = b.op("Shape", pre + "width", w.masked());
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
        b.where(b.op("IsNaN", pre + "entry_nan", rawEntry), w.zero(), rawEntry); // [B, Hq, S, 1]
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
            b.op(
                "Mul",
                pre + "kept_share",
                pv,
                b.op("Sub", pre + "one_minus_entry", w.one(), entry)),
            b.op("Mul", pre + "entry_share", entry, meanValue));
    // Carry: the entries the next query no longer reaches join the sums.
    String evicted = b.reshape(b.cast(b.not(w.select()), GraphBuilder.FLOAT), 1, -1); // [1, L + S]
    DecodeOps.carrySums(b, g, pre, "evicted", evicted, w.k(), w.v());
    DecodeOps.carryCount(b, g, b.reduceSum(evicted, false, 0, 1));
    return out;
  }

  /** {@code x} per query head (Gather of {@code localHeads}), or {@code x} itself when null. */
  private static String perQuery(BodyBuilder b, String hint, String x, String localHeads) {
    return localHeads == null ? x : b.gather(hint, x, localHeads, 1);
  }
}
