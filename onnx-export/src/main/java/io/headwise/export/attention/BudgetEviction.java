package io.headwise.export.attention;

import io.headwise.graph.GraphBuilder;
import io.headwise.graph.Tensors;
import java.util.List;

/**
 * Which entries a budget (H2O/EMS) cache keeps after a call, and the present caches they make.
 *
 * <p>The budget heads of a layer share one group whose heads may have different budgets B_h and
 * recent counts R_h; its tensors hold n = min(T, K) entries per head, K = the largest budget. Of a
 * head's n entries the last min(T, B_h) are live and any before them are dead (score −∞, masked out
 * of attention, never merged again): a head below the largest budget pads its tensor rows instead
 * of getting a group, and so a tensor set, of its own.
 *
 * <p>Layout (no positions are carried): dead entries first, then the live ones in candidate order,
 * so the heavy hitters (all older than the recent tokens) come before the min(R_h, T) most recent
 * tokens, which are last and in position order. Since the new tokens follow the cache, the last r_h
 * candidates of a call are a head's r_h most recent tokens. Selection: rank the candidates with the
 * recent ones forced first and the others by accumulated score (dead ones, −∞, last), keep the
 * first min(T, B_h) of a head as live and fill its other n − min(T, B_h) rows with the next-ranked
 * (dead) candidates, then put the n kept in layout order. Separate from {@link
 * BudgetCacheAttention} because choosing survivors (TopK, GatherND of rows) is independent of how
 * the scores were accumulated.
 */
final class BudgetEviction {
  private BudgetEviction() {}

  /**
   * The kept entries: {@code index} [B, Hg, n] into the candidates and {@code live} [B, Hg, n]
   * (float 1 for a live entry, 0 for a dead one).
   */
  record Kept(String index, String live) {}

  /**
   * Selects the kept entries of candidates {@code k}, {@code v} with accumulated {@code scores} [B,
   * Hg, T] (−∞ for dead entries; {@code total} = [T]) and writes the present key, value and scores
   * caches.
   */
  static Kept keep(
      BodyBuilder b,
      DecodeCacheGroup g,
      String pre,
      String k,
      String v,
      String scores,
      String total) {
    String budgets = perHead(b, pre + "budgets", g.budgetTokens());
    String recents = perHead(b, pre + "recents", g.recentTokens());
    String kept =
        b.op("Min", pre + "kept_count", total, b.longVector(pre + "capacity", g.capacity())); // n
    String live = b.op("Min", pre + "live_count", total, budgets); // [1, Hg, 1]: min(T, B_h)
    String candidate =
        b.op(
            "Range",
            pre + "candidate",
            b.longScalar(pre + "c0", 0),
            b.reshape(total),
            b.longScalar(pre + "c1", 1)); // [T]
    String recent =
        b.not(
            b.less(
                candidate,
                b.op(
                    "Sub",
                    pre + "recent_from",
                    total,
                    b.op("Min", pre + "recent_count", total, recents)))); // [1, Hg, T]
    String rankKey =
        b.where(recent, b.floatScalar(pre + "forced", Float.POSITIVE_INFINITY), scores);
    String ranked = topK(b, pre + "ranked", rankKey, kept, true); // [B, Hg, n], best first
    String rank =
        b.op(
            "Range",
            pre + "rank",
            b.longScalar(pre + "k0", 0),
            b.reshape(kept),
            b.longScalar(pre + "k1", 1)); // [n]
    // Layout order: a dead entry's key is its candidate index, a live one's is shifted past every
    // candidate, so an ascending sort puts the dead first and keeps candidate order within each.
    String shift =
        b.where(
            b.less(rank, live),
            b.cast(total, GraphBuilder.FLOAT),
            b.floatScalar(pre + "no_shift", 0f)); // [1, Hg, n]
    String layoutKey = b.op("Add", pre + "layout_key", b.cast(ranked, GraphBuilder.FLOAT), shift);
    String order = topK(b, pre + "layout", layoutKey, kept, false);
    String index =
        b.op(
            "GatherElements",
            pre + "kept_index",
            List.of(ranked, order),
            GraphBuilder.intAttr("axis", 2)); // [B, Hg, n]
    String isLive = b.not(b.less(rank, b.op("Sub", pre + "dead_count", kept, live))); // [1, Hg, n]
    // Keys and values: GatherND over whole [D] rows with the batch and head axes as batch dims, so
    // the index stays [B, Hg, n, 1]; GatherElements needed it expanded to [B, Hg, n, D] int64,
    // which cost more per decode step than the rows it copied (docs/results.md).
    String rowIndex = b.unsqueeze(index, 3); // [B, Hg, n, 1]
    List<String> rows = List.of(k, v);
    List<String> rowParts = List.of("key", "value");
    for (int i = 0; i < rows.size(); i++) {
      b.node(
          "GatherND",
          List.of(rows.get(i), rowIndex),
          List.of(DecodeCacheGroup.PRESENT + g.name(rowParts.get(i))),
          GraphBuilder.intAttr("batch_dims", 2));
    }
    String keptScores =
        b.op(
            "GatherElements",
            pre + "kept_scores",
            List.of(scores, index),
            GraphBuilder.intAttr("axis", 2));
    b.node(
        "Where",
        List.of(isLive, keptScores, b.floatScalar(pre + "dead_score", Float.NEGATIVE_INFINITY)),
        List.of(DecodeCacheGroup.PRESENT + g.name("scores")));
    String liveFlags =
        b.op(
            "Add",
            pre + "live_flags",
            b.op("ConstantOfShape", pre + "flag_zeros", b.op("Shape", pre + "index_shape", index)),
            b.cast(isLive, GraphBuilder.FLOAT)); // [B, Hg, n]
    return new Kept(index, liveFlags);
  }

  /** True for a live entry of {@code scores} (accumulated attention ≥ 0; dead ones are −∞). */
  static String alive(BodyBuilder b, String pre, String scores) {
    return b.op("Greater", pre + "alive", scores, b.floatScalar(pre + "dead_below", -1f));
  }

  /** A per-kv-head constant [1, Hg, 1] (int64). */
  private static String perHead(BodyBuilder b, String hint, List<Long> values) {
    return b.constant(
        hint,
        Tensors.longs(
            "",
            new long[] {1, values.size(), 1},
            values.stream().mapToLong(Long::longValue).toArray()));
  }

  /** TopK along the last axis, sorted; returns the indices. Ties: the lower index first. */
  private static String topK(BodyBuilder b, String hint, String x, String count, boolean largest) {
    String values = b.fresh(hint + "_values");
    String indices = b.fresh(hint + "_index");
    b.node(
        "TopK",
        List.of(x, count),
        List.of(values, indices),
        GraphBuilder.intAttr("axis", -1),
        GraphBuilder.intAttr("largest", largest ? 1 : 0),
        GraphBuilder.intAttr("sorted", 1));
    return indices;
  }
}
