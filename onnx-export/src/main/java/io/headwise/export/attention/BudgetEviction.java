package io.headwise.export.attention;

import io.headwise.graph.GraphBuilder;
import io.headwise.graph.Tensors;
import java.util.List;

/**
 * Which entries a budget (H2O/EMS) cache keeps after a call, and the present caches they make.
 *
 * <p>The budget heads of a layer with one recent count R share one group, whatever their budgets
 * B_h; its tensors hold n = min(T, K) entries per head, K = the largest budget. A head keeps the r
 * = min(R, T) most recent candidates and its h_h = min(T, B_h) − r heaviest older ones live; a head
 * below the largest budget fills its other n − r − h_h rows with dead entries (score −∞, masked out
 * of attention, never merged again) instead of getting a group, and so a tensor set, of its own.
 *
 * <p>Layout (no positions are carried): a head's live heavy hitters, then its dead entries, then
 * the r most recent tokens in position order. Every heavy hitter is older than every recent entry
 * and the new tokens follow the cache, so the last r candidates of a call are the r most recent
 * tokens: TopK over the other T − r candidates chooses the rest (dead ones, −∞, rank last). A group
 * without a merge slot (H2O) takes its heavy hitters with one sorted TopK, so they are in
 * descending score order; a merging group (EMS) takes the c = min(T, smallest budget) − r that
 * every head keeps with an unsorted TopK (in no particular order) and ranks only the others ({@link
 * Tail}). Separate from {@link BudgetCacheAttention} because choosing survivors (TopK, Gather of
 * rows) is independent of how the scores were accumulated.
 */
final class BudgetEviction {
  private BudgetEviction() {}

  /**
   * The kept entries, {@code index} [B, Hg, n] into the candidates, the candidates' rows for
   * further gathers, and for a group that merges what it evicts ({@link
   * DecodeCacheGroup#compensation()}) the candidates it may evict.
   */
  record Kept(String index, Rows rows, Evicted evicted) {}

  /**
   * The candidates' keys and values as rows of one [B·Hg·T, D] matrix each ({@code Flatten}, no
   * copy), and {@code base} [B, Hg, 1]: the row of each (batch row, head)'s first candidate. An
   * index [B, Hg, n] into a head's candidates plus {@code base} is a row index for one plain {@code
   * Gather} on axis 0, which ONNX Runtime runs as one copy per row; {@code GatherND} with {@code
   * batch_dims=2} over the same rows cost several times more per decode step (docs/results.md).
   */
  record Rows(String keys, String values, String base) {
    /**
     * Gathers the rows at {@code index} [B, Hg, n] (into each head's candidates) into {@code
     * keysOut}, {@code valuesOut} [B, Hg, n, D].
     */
    void gather(BodyBuilder b, String hint, String index, String keysOut, String valuesOut) {
      String row = b.op("Add", hint + "_row", index, base);
      b.node("Gather", List.of(keys, row), List.of(keysOut), GraphBuilder.intAttr("axis", 0));
      b.node("Gather", List.of(values, row), List.of(valuesOut), GraphBuilder.intAttr("axis", 0));
    }
  }

  /**
   * Candidates ranked after the first live heavy hitters of the smallest budget: {@code index} [B,
   * Hg, w] into the candidates, and {@code mask} [B, Hg, w] float, 1 for a live candidate this call
   * evicts (not kept, or kept as a dead entry).
   */
  record Evicted(String index, String mask) {}

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
    String recentCount =
        b.op("Min", pre + "recent_count", total, b.longVector(pre + "recent", g.recentTokens()));
    String older = b.op("Sub", pre + "older", total, recentCount); // [1]: T − r
    String kept =
        b.op("Min", pre + "keep_count", total, b.longVector(pre + "capacity", g.capacity()));
    String heavySlots = b.op("Sub", pre + "heavy_slots", kept, recentCount); // [1]: n − r
    String olderScores =
        b.op(
            "Slice",
            pre + "older_scores",
            scores,
            b.longVector(pre + "o0", 0),
            older,
            b.longVector(pre + "o2", 2)); // [B, Hg, T − r]
    String heavyIndex; // [B, Hg, n − r]
    Tail tail = null;
    if (!g.compensation()) {
      String ranked = b.fresh(pre + "ranked_index");
      b.node(
          "TopK",
          List.of(olderScores, heavySlots),
          List.of(b.fresh(pre + "ranked_scores"), ranked),
          GraphBuilder.intAttr("axis", -1),
          GraphBuilder.intAttr("largest", 1),
          GraphBuilder.intAttr("sorted", 1)); // ties: the lower index first (ONNX TopK)
      heavyIndex = ranked;
    } else {
      tail = tail(b, g, pre, olderScores, total, recentCount, older);
      heavyIndex =
          b.concat(
              pre + "heavy_index",
              2,
              tail.kept(),
              b.op(
                  "Slice",
                  pre + "heavy_tail",
                  tail.index(),
                  b.longVector(pre + "h0", 0),
                  b.op("Sub", pre + "heavy_tail_count", heavySlots, tail.from()),
                  b.longVector(pre + "h2", 2)));
    }
    String heavyShape = b.op("Shape", pre + "heavy_shape", heavyIndex); // [B, Hg, n − r]
    String batchHeads =
        b.op(
            "Slice",
            pre + "batch_heads",
            heavyShape,
            b.longVector(pre + "bh0", 0),
            b.longVector(pre + "bh2", 2)); // [B, Hg]
    String recentShape = b.concat(pre + "recent_shape", 0, batchHeads, recentCount); // [B, Hg, r]
    String recentIndex =
        b.op(
            "Expand",
            pre + "recent_index",
            b.reshape(
                b.op(
                    "Range",
                    pre + "recent_range",
                    b.reshape(older),
                    b.reshape(total),
                    b.longScalar(pre + "rr1", 1)),
                1,
                1,
                -1),
            recentShape);
    String index = b.concat(pre + "kept_index", 2, heavyIndex, recentIndex); // [B, Hg, n]
    Rows rows = rows(b, pre, k, v, batchHeads, total);
    rows.gather(
        b,
        pre + "kept",
        index,
        DecodeCacheGroup.PRESENT + g.name("key"),
        DecodeCacheGroup.PRESENT + g.name("value"));
    String presentScores = DecodeCacheGroup.PRESENT + g.name("scores");
    // h_h [1, Hg, 1]: where a head's live heavy hitters end; read by the dead-row mask and the
    // merge tail only (a single-budget H2O group needs neither)
    String liveHeavy =
        g.padded() || g.compensation()
            ? b.op(
                "Sub",
                pre + "live_heavy",
                b.op(
                    "Min",
                    pre + "live_count",
                    total,
                    perHead(b, pre + "budgets", g.budgetTokens())),
                recentCount)
            : null;
    if (g.padded()) {
      String keptScores =
          b.op(
              "GatherElements",
              pre + "kept_scores",
              List.of(scores, index),
              GraphBuilder.intAttr("axis", 2));
      String slot =
          b.op(
              "Range",
              pre + "slot",
              b.longScalar(pre + "s0", 0),
              b.reshape(kept),
              b.longScalar(pre + "s1", 1)); // [n]
      String dead = b.and(b.not(b.less(slot, liveHeavy)), b.less(slot, heavySlots));
      b.node(
          "Where",
          List.of(dead, b.floatScalar(pre + "dead_score", Float.NEGATIVE_INFINITY), keptScores),
          List.of(presentScores));
    } else { // one budget: no entry is dead, the kept scores are the present ones
      b.node(
          "GatherElements",
          List.of(scores, index),
          List.of(presentScores),
          GraphBuilder.intAttr("axis", 2));
    }
    if (!g.compensation()) {
      return new Kept(index, rows, null);
    }
    String tailFrom = tail.from();
    String tailIndex = tail.index();
    String tailScores = tail.scores();
    String tailRank =
        b.op(
            "Range",
            pre + "tail_rank",
            b.reshape(tailFrom),
            b.reshape(older),
            b.longScalar(pre + "t1", 1)); // [w]
    String evicted =
        b.cast(
            b.and(b.not(b.less(tailRank, liveHeavy)), alive(b, pre + "tail_", tailScores)),
            GraphBuilder.FLOAT); // [B, Hg, w]
    return new Kept(index, rows, new Evicted(tailIndex, evicted));
  }

  /**
   * A merging group's ranking of the older candidates (rank order: score descending, ties the lower
   * index first, as one sorted {@code TopK}): {@code kept} [B, Hg, c] the c = min(T, smallest
   * budget) − r heaviest, which every head keeps live, in no particular order; {@code index},
   * {@code scores} [B, Hg, w] the other w = T − r − c, the only ones a head may keep as its last
   * heavy hitters, mark dead or evict, in rank order; {@code from} [1] = c, the rank of the first.
   */
  record Tail(String kept, String index, String scores, String from) {}

  /**
   * Ranks the older candidates as {@link Tail} with two selections instead of one sort of all of
   * them: a {@code TopK} without sorting picks the c heaviest (a quickselect), and a sorted {@code
   * TopK} of the w lightest over the candidates in reverse index order (so that, ascending, equal
   * scores put the higher original index first) gives the tail in reverse rank order.
   */
  private static Tail tail(
      BodyBuilder b,
      DecodeCacheGroup g,
      String pre,
      String olderScores,
      String total,
      String recentCount,
      String older) {
    String from =
        b.op(
            "Sub",
            pre + "tail_from",
            b.op(
                "Min",
                pre + "smallest_live",
                total,
                b.longVector(pre + "smallest_budget", g.smallestBudget())),
            recentCount); // [1]: c
    String kept = b.fresh(pre + "kept_heavy");
    b.node(
        "TopK",
        List.of(olderScores, from),
        List.of(b.fresh(pre + "kept_heavy_scores"), kept),
        GraphBuilder.intAttr("axis", -1),
        GraphBuilder.intAttr("largest", 1),
        GraphBuilder.intAttr("sorted", 0)); // a set: ties the lower index first (ONNX TopK)
    String axis = b.longVector(pre + "tail_axis", 2);
    String lightScores = b.fresh(pre + "light_scores");
    String lightReversed = b.fresh(pre + "light_index");
    b.node(
        "TopK",
        List.of(
            reverse(b, pre + "reversed_older", olderScores, axis),
            b.op("Sub", pre + "tail_count", older, from)),
        List.of(lightScores, lightReversed),
        GraphBuilder.intAttr("axis", -1),
        GraphBuilder.intAttr("largest", 0),
        GraphBuilder.intAttr("sorted", 1)); // ascending; ties the lower reversed index first
    String index =
        b.op(
            "Sub",
            pre + "tail_index",
            b.op("Sub", pre + "last_older", older, b.longVector(pre + "one_older", 1)),
            reverse(b, pre + "tail_reversed", lightReversed, axis)); // [B, Hg, w]
    return new Tail(kept, index, reverse(b, pre + "tail_scores", lightScores, axis), from);
  }

  /** {@code x} with its {@code axis} in reverse order (a Slice with step −1). */
  private static String reverse(BodyBuilder b, String hint, String x, String axis) {
    return b.op(
        "Slice",
        hint,
        x,
        b.longVector(hint + "_from", -1),
        b.longVector(hint + "_to", Long.MIN_VALUE),
        axis,
        b.longVector(hint + "_step", -1));
  }

  /**
   * The candidates {@code k}, {@code v} [B, Hg, T, D] as {@link Rows}; {@code batchHeads} is [B,
   * Hg], {@code total} [1] is T.
   */
  private static Rows rows(
      BodyBuilder b, String pre, String k, String v, String batchHeads, String total) {
    String keys = b.op("Flatten", pre + "key_rows", List.of(k), GraphBuilder.intAttr("axis", 3));
    String values =
        b.op("Flatten", pre + "value_rows", List.of(v), GraphBuilder.intAttr("axis", 3));
    String first =
        b.op(
            "Range",
            pre + "first_row",
            b.longScalar(pre + "fr0", 0),
            b.element(b.op("Shape", pre + "rows_shape", keys), 0),
            b.reshape(total)); // [B·Hg]: 0, T, 2T, ...
    String baseShape =
        b.concat(pre + "base_shape", 0, batchHeads, b.longVector(pre + "bs1", 1)); // [B, Hg, 1]
    return new Rows(keys, values, b.op("Reshape", pre + "base", first, baseShape));
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
}
