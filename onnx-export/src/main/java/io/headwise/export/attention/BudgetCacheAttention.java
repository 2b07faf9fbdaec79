package io.headwise.export.attention;

import io.headwise.export.attention.DecodeOps.CoreInputs;
import io.headwise.graph.GraphBuilder;
import io.headwise.graph.Tensors;

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
    long[] queries = DecodeOps.queryHeads(g);
    long[] local = DecodeOps.localKvHeads(g, in.kvHeads());
    String past = DecodeCacheGroup.PAST;
    String q = DecodeOps.groupQuery(b, pre, in.query(), queries);
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
    String kq = b.gather(pre + "key_per_query", k, localHeads, 1);
    String vq = b.gather(pre + "value_per_query", v, localHeads, 1);
    String scores =
        DecodeOps.scaledScores(
            b, q, kq, in.scale(), pre + "scores", pre + "qk", pre + "scale"); // [B, Hq, S, L + S]
    String zero = b.floatScalar(pre + "zero", 0f);
    String order =
        b.not(b.less(b.op("Sub", pre + "distance", queryIndex, candidateIndex), zero)); // [S, T]
    if (g.padded()) {
      // Dead entries (rows a head below the group's largest budget does not use) are never seen.
      order =
          b.and(
              order,
              b.unsqueeze(
                  b.gather(
                      pre + "alive_per_query",
                      BudgetEviction.alive(b, pre, accumulated),
                      localHeads,
                      1),
                  2)); // [B, Hq, S, T]
    }
    String minusInf = b.floatScalar(pre + "minus_inf", Float.NEGATIVE_INFINITY);
    String masked = b.where(order, scores, minusInf);
    String safe;
    String out;
    if (g.compensation()) {
      MergeSlot.Attention slot =
          MergeSlot.attend(b, g, pre, q, masked, vq, localHeads, in.scale(), zero);
      safe = slot.tokenProbs();
      out = slot.out();
    } else {
      safe = DecodeOps.safeSoftmax(b, pre, masked, zero);
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
                    Tensors.floats(
                        "",
                        new long[] {queries.length, kvs.length},
                        groupMean(local, kvs.length)))),
            0,
            2,
            1); // [B, Hg, L + S]
    String scoresAfter = b.op("Add", pre + "scores_after", accumulated, perHead);
    BudgetEviction.Kept kept = BudgetEviction.keep(b, g, pre, k, v, scoresAfter, total);
    if (g.compensation()) {
      MergeSlot.merge(b, g, pre, kept.rows(), kept.evicted());
    }
    return out;
  }

  /** [Hq, Hg]: 1 / (query heads of the kv head) where a query head reads a kv head, else 0. */
  private static float[] groupMean(long[] local, int kvHeads) {
    int[] perKv = new int[kvHeads];
    for (long l : local) {
      perKv[(int) l]++;
    }
    float[] average = new float[local.length * kvHeads];
    for (int i = 0; i < local.length; i++) {
      average[i * kvHeads + (int) local[i]] = 1f / perKv[(int) local[i]];
    }
    return average;
  }
}
