package io.headwise.export.attention;

import io.headwise.graph.GraphBuilder;
import java.util.List;

/**
 * Pieces every decode cache attention builds (windowed groups, budget groups, RazorAttention's
 * compensation entry, EMS's merge slot): kept in one place so that each is written once and emits
 * the same nodes, under the same names, wherever it appears.
 */
final class DecodeOps {
  private DecodeOps() {}

  /** The query, new key and new value tensors of one attention core and its per-head constants. */
  record CoreInputs(String query, String newKey, String newValue, double[] kvHeads, float scale) {}

  /** A group's kv heads as a long[] (Gather indices). */
  static long[] kvHeads(DecodeCacheGroup g) {
    return g.kvHeads().stream().mapToLong(Integer::longValue).toArray();
  }

  /** A group's query heads as a long[] (Gather indices). */
  static long[] queryHeads(DecodeCacheGroup g) {
    return g.queryHeads().stream().mapToLong(Integer::longValue).toArray();
  }

  /** Per query head of the group: the index of its kv head within the group's cache tensors. */
  static long[] localKvHeads(DecodeCacheGroup g, double[] kvHeads) {
    List<Integer> queries = g.queryHeads();
    long[] local = new long[queries.size()];
    for (int i = 0; i < local.length; i++) {
      local[i] = g.kvHeads().indexOf((int) kvHeads[queries.get(i)]);
    }
    return local;
  }

  /** The group's query heads of {@code query} [B, Hq, S, D]. */
  static String groupQuery(BodyBuilder b, String pre, String query, long[] queries) {
    return b.gather(pre + "query", query, b.longVector(pre + "queries", queries), 1);
  }

  /** Scaled scores q·kᵀ·scale [B, Hq, S, T] under the three given node names. */
  static String scaledScores(
      BodyBuilder b,
      String q,
      String k,
      float scale,
      String hint,
      String productHint,
      String scaleHint) {
    return b.op(
        "Mul",
        hint,
        b.op("MatMul", productHint, q, b.transpose(k, 0, 1, 3, 2)),
        b.floatScalar(scaleHint, scale));
  }

  /** Softmax over the last axis with rows that saw no key (all −∞, NaN) set to zero. */
  static String safeSoftmax(BodyBuilder b, String pre, String logits, String zero) {
    String p = b.op("Softmax", pre + "probs", List.of(logits), GraphBuilder.intAttr("axis", -1));
    return b.where(b.op("IsNaN", pre + "empty_row", p), zero, p);
  }

  /**
   * Present sums of a compensated group: past sum_key/sum_value plus the keys and values the {@code
   * evicted} mask selects (nodes named {@code <verb>_keys}, {@code <verb>_values}).
   */
  static void carrySums(
      BodyBuilder b,
      DecodeCacheGroup g,
      String pre,
      String verb,
      String evicted,
      String k,
      String v) {
    String past = DecodeCacheGroup.PAST;
    String present = DecodeCacheGroup.PRESENT;
    b.node(
        "Add",
        List.of(past + g.name("sum_key"), b.op("MatMul", pre + verb + "_keys", evicted, k)),
        List.of(present + g.name("sum_key")));
    b.node(
        "Add",
        List.of(past + g.name("sum_value"), b.op("MatMul", pre + verb + "_values", evicted, v)),
        List.of(present + g.name("sum_value")));
  }

  /** Present count of a compensated group: the past count plus {@code evictedNow}. */
  static void carryCount(BodyBuilder b, DecodeCacheGroup g, String evictedNow) {
    b.node(
        "Add",
        List.of(DecodeCacheGroup.PAST + g.name("dropped"), evictedNow),
        List.of(DecodeCacheGroup.PRESENT + g.name("dropped")));
  }
}
