package io.headwise.export.attention;

import io.headwise.export.attention.DecodeOps.CoreInputs;
import io.headwise.graph.GraphBuilder;
import io.headwise.schemas.HeadwiseException;
import java.util.List;

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
 * are the last entries and causality among the new tokens follows from their indices. The budget
 * heads of a layer share one group; a head whose budget is below the group's largest keeps dead
 * entries (score −∞) between its heavy hitters and its recent tokens, masked here ({@link
 * BudgetEviction}).
 *
 * <p>With a merge slot ({@link DecodeCacheGroup#compensation()}, EMS as the ems planner
 * reconstructs it): the same selection, and every evicted token is merged into one slot per kv head
 * instead of dropped ({@link MergeSlot}). The attention and score accumulation live here, the
 * choice of what stays in {@link BudgetEviction}.
 */
final class BudgetCacheAttention {
  private BudgetCacheAttention() {}

  /** The group's attention output; writes its present key, value, scores (and merge) caches. */
  static String attend(BodyBuilder b, DecodeCacheGroup g, CoreInputs in) {
    String pre = "g" + g.group() + "_";
    long[] kvs = DecodeOps.kvHeads(g);
    QueryOrder order = QueryOrder.of(g, in.kvHeads());
    String past = DecodeCacheGroup.PAST;
    // The group's query heads kv head by kv head, as [B, Hg, g·S, D]: row j·S + i is the new token
    // i of the kv head's j-th query head. Each kv head's keys and values then serve all its query
    // heads in one MatMul, without copying them per query head (repeat_kv).
    String q =
        b.op(
            "Reshape",
            pre + "query_by_kv",
            DecodeOps.groupQuery(b, pre, in.query(), order.queries()),
            b.longVector(pre + "query_shape", 0, kvs.length, -1, 0));
    String kNew =
        b.gather(pre + "new_keys", in.newKey(), b.longVector(pre + "kv", kvs), 1); // [B, Hg, S, D]
    String vNew = b.gather(pre + "new_values", in.newValue(), b.longVector(pre + "kv_v", kvs), 1);
    String k = b.concat(pre + "keys", 2, past + g.name("key"), kNew);
    String v = b.concat(pre + "values", 2, past + g.name("value"), vNew);
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
        b.concat(pre + "scores_before", 2, past + g.name("scores"), fresh); // [B, Hg, T = L + S]
    // The cache carries no positions: its layout says which entries are the most recent (see
    // BudgetEviction), and the new tokens follow every cached one, so causality only needs
    // candidate indices: candidate j is visible to the new token i (at index L + i) when j <= L +
    // i.
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
        b.op(
            "Tile",
            pre + "query_rows",
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
                1),
            b.longVector(pre + "per_kv", order.perKv(), 1)); // [g·S, 1]: the rows of q
    String scores =
        DecodeOps.scaledScores(
            b, q, k, in.scale(), pre + "scores", pre + "qk", pre + "scale"); // [B, Hg, g·S, T]
    String visible = b.not(b.less(queryIndex, candidateIndex)); // [g·S, T]
    if (g.padded()) {
      // Dead entries (rows a head below the group's largest budget does not use) are never seen.
      visible =
          b.and(
              visible,
              b.unsqueeze(BudgetEviction.alive(b, pre, accumulated), 2)); // [B, Hg, g·S, T]
    }
    String minusInf = b.floatScalar(pre + "minus_inf", Float.NEGATIVE_INFINITY);
    String masked = b.where(visible, scores, minusInf);
    String safe;
    String out;
    if (g.compensation()) {
      MergeSlot.Attention slot = MergeSlot.attend(b, g, pre, q, masked, v, in.scale());
      safe = slot.tokenProbs();
      out = slot.out();
    } else {
      // Every new token sees at least itself (visible, and alive with its fresh score 0), so no row
      // is all −∞ and the softmax needs no guard against one.
      safe = b.op("Softmax", pre + "probs", List.of(masked), GraphBuilder.intAttr("axis", -1));
      out = b.op("MatMul", pre + "out", safe, v);
    }
    // Accumulate: Σ over the new queries, mean over the query heads of each kv head.
    String perHead =
        b.op(
            "Mul",
            pre + "group_mean",
            b.reduceSum(safe, false, 2),
            b.floatScalar(pre + "average", 1f / order.perKv())); // [B, Hg, L + S]
    String scoresAfter = b.op("Add", pre + "scores_after", accumulated, perHead);
    BudgetEviction.Kept kept = BudgetEviction.keep(b, g, pre, k, v, scoresAfter, total);
    if (g.compensation()) {
      MergeSlot.merge(b, g, pre, kept.rows(), kept.evicted());
    }
    // [B, Hq, S, Dv] in the group's query head order
    String byQuery =
        b.op(
            "Reshape",
            pre + "out_by_query",
            out,
            b.longVector(pre + "out_shape", 0, order.queries().length, -1, 0));
    return order.identity()
        ? byQuery
        : b.gather(pre + "query_order", byQuery, b.longVector(pre + "inverse", order.inverse()), 1);
  }

  /**
   * The group's query heads sorted by the kv head they read (stably): {@code queries} model query
   * heads, {@code perKv} query heads per kv head, {@code inverse} where each of the group's query
   * heads (in {@link DecodeCacheGroup#queryHeads()} order) lands, {@code identity} when that order
   * is already kv head by kv head.
   */
  record QueryOrder(long[] queries, int perKv, long[] inverse, boolean identity) {
    static QueryOrder of(DecodeCacheGroup g, double[] kvHeads) {
      long[] local = DecodeOps.localKvHeads(g, kvHeads);
      long[] model = DecodeOps.queryHeads(g);
      int heads = g.kvHeads().size();
      int[] count = new int[heads];
      for (long l : local) {
        count[(int) l]++;
      }
      for (int c : count) {
        if (c != count[0]) {
          throw new HeadwiseException(
              "layer "
                  + g.layer()
                  + ": the kv heads of a budget group are read by different numbers of query"
                  + " heads ("
                  + java.util.Arrays.toString(count)
                  + "); budget decode groups need grouped-query attention with equal groups");
        }
      }
      long[] queries = new long[local.length];
      long[] inverse = new long[local.length];
      boolean identity = true;
      int next = 0;
      for (int kv = 0; kv < heads; kv++) {
        for (int i = 0; i < local.length; i++) {
          if (local[i] == kv) {
            inverse[i] = next;
            identity &= i == next;
            queries[next++] = model[i];
          }
        }
      }
      return new QueryOrder(queries, count[0], inverse, identity);
    }
  }
}
