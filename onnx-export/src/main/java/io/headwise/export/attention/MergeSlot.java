package io.headwise.export.attention;

import io.headwise.graph.GraphBuilder;
import java.util.List;

/**
 * EMS's merge slot in a budget decode group (the compensation entry of RazorAttention over carried
 * sums): one more entry per kv head with key sum_key/count (count per kv head: the heads of a
 * budget group may have different budgets), logit scaled q·key + ln(count) (as if the count evicted
 * tokens all sat at their mean key) and value sum_value/count; absent (logit −∞) while nothing has
 * been evicted. The slot's probability is not accumulated into any token's score. Every token the
 * budget evicts is merged into the slot's sums instead of dropped. Its own class because it is the
 * state a budget cache carries beyond H2O's keys, values and scores.
 */
final class MergeSlot {
  private MergeSlot() {}

  /** The attention of a budget group with a merge slot: probabilities of the tokens, output. */
  record Attention(String tokenProbs, String out) {}

  /**
   * Attention over the masked token scores plus the slot: {@code q} [B, Hg, g·S, D] (the query
   * heads kv head by kv head), {@code masked} [B, Hg, g·S, L + S], {@code v} [B, Hg, L + S, Dv].
   */
  static Attention attend(
      BodyBuilder b,
      DecodeCacheGroup g,
      String pre,
      String q,
      String masked,
      String v,
      float scale) {
    String past = DecodeCacheGroup.PAST;
    String one = b.floatScalar(pre + "one", 1f);
    // [1, Hg, 1, 1]: the evicted count of each kv head (budgets differ per head)
    String count = b.unsqueeze(past + g.name("dropped"), 0, 2, 3);
    String atLeastOne = b.op("Max", pre + "count_at_least_1", count, one);
    String slotLogit =
        b.where(
            b.op("Greater", pre + "has_merged", count, b.floatScalar(pre + "half", 0.5f)),
            b.op(
                "Add",
                pre + "slot_logit",
                b.op(
                    "Div",
                    pre + "mean_key_score",
                    DecodeOps.scaledScores(
                        b,
                        q,
                        past + g.name("sum_key"),
                        scale,
                        pre + "sum_key_score",
                        pre + "q_sum_key",
                        pre + "slot_scale"),
                    atLeastOne),
                b.op("Log", pre + "log_count", atLeastOne)),
            b.floatScalar(pre + "slot_minus_inf", Float.NEGATIVE_INFINITY)); // [B, Hg, g·S, 1]
    String all = b.concat(pre + "with_slot", -1, masked, slotLogit);
    // No guard against rows that are all −∞: every new token sees itself (BudgetCacheAttention).
    String safe = b.op("Softmax", pre + "probs", List.of(all), GraphBuilder.intAttr("axis", -1));
    String axis = b.longVector(pre + "slot_axis", 3);
    String tokenProbs =
        b.op(
            "Slice",
            pre + "token_probs",
            safe,
            b.longVector(pre + "from0", 0),
            b.longVector(pre + "to_last", -1),
            axis); // [B, Hg, g·S, L + S]
    String slotProb =
        b.op(
            "Slice",
            pre + "slot_prob",
            safe,
            b.longVector(pre + "from_last", -1),
            b.longVector(pre + "to_end", Long.MAX_VALUE),
            axis); // [B, Hg, g·S, 1]
    String out =
        b.op(
            "Add",
            pre + "out",
            b.op("MatMul", pre + "kept_out", tokenProbs, v),
            b.op(
                "Mul",
                pre + "slot_out",
                slotProb,
                b.op("Div", pre + "mean_value", past + g.name("sum_value"), atLeastOne)));
    return new Attention(tokenProbs, out);
  }

  /**
   * Merge: every live candidate (past cache + new tokens) the budget evicts joins the slot's sums
   * (new_sum = old_sum + the evicted rows, weighted by the {@code evicted} mask) and the count
   * grows per kv head by the entries evicted.
   */
  static void merge(
      BodyBuilder b,
      DecodeCacheGroup g,
      String pre,
      BudgetEviction.Rows rows,
      BudgetEviction.Evicted evicted) {
    String keys = b.fresh(pre + "tail_keys");
    String values = b.fresh(pre + "tail_values");
    rows.gather(b, pre + "tail", evicted.index(), keys, values); // [B, Hg, w, D]
    DecodeOps.carrySums(b, g, pre, "merged", b.unsqueeze(evicted.mask(), 2), keys, values);
    // [Hg]: every batch row evicts equally many per head (the budgets fix the counts)
    DecodeOps.carryCount(
        b,
        g,
        b.gather(
            pre + "evicted_count",
            b.reduceSum(evicted.mask(), false, 2),
            b.longScalar(pre + "row0", 0),
            0));
  }
}
