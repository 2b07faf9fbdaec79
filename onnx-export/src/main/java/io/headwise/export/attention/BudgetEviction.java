package io.headwise.export.attention;

import io.headwise.graph.GraphBuilder;
import java.util.List;

/**
 * Which entries a budget (H2O/EMS) cache keeps after a call, and the present caches they make.
 * Layout of a budget cache (it carries no positions): the heavy hitters first (in any order), then
 * the min(R, n) most recent tokens in position order. Every heavy hitter is older than every recent
 * entry and the new tokens are newer than the cache, so the last r = min(R, T) candidates are the r
 * most recent tokens. Keep them, in order, at the end; before them the h = min(T, B) − r candidates
 * of the other T − r with the largest accumulated attention. Separate from {@link
 * BudgetCacheAttention} because choosing survivors (TopK, GatherND of rows) is independent of how
 * the scores were accumulated.
 */
final class BudgetEviction {
  private BudgetEviction() {}

  /**
   * The kept entries: {@code index} [B, Hg, min(T, B)] into the candidates, its shape, and how many
   * are kept ([1]).
   */
  record Kept(String index, String indexShape, String keepCount) {}

  /**
   * Selects the kept entries of candidates {@code k}, {@code v} with accumulated {@code scores} [B,
   * Hg, T] ({@code total} = [T]) and writes the present key, value and scores caches.
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
    String keepCount =
        b.op("Min", pre + "keep_count", total, b.longVector(pre + "budget", g.budgetTokens()));
    String heavyCount = b.op("Sub", pre + "heavy_count", keepCount, recentCount); // [1]: h
    String olderScores =
        b.op(
            "Slice",
            pre + "older_scores",
            scores,
            b.longVector(pre + "o0", 0),
            older,
            b.longVector(pre + "o2", 2)); // [B, Hg, T − r]
    String heavyScores = b.fresh(pre + "heavy_scores");
    String heavyIndex = b.fresh(pre + "heavy_index");
    b.node(
        "TopK",
        List.of(olderScores, heavyCount),
        List.of(heavyScores, heavyIndex),
        GraphBuilder.intAttr("axis", -1),
        GraphBuilder.intAttr("largest", 1),
        GraphBuilder.intAttr("sorted", 1)); // ties: the lower index first (ONNX TopK)
    String heavyShape = b.op("Shape", pre + "heavy_shape", heavyIndex); // [B, Hg, h]
    String recentShape =
        b.concat(
            pre + "recent_shape",
            0,
            b.op(
                "Slice",
                pre + "batch_heads",
                heavyShape,
                b.longVector(pre + "bh0", 0),
                b.longVector(pre + "bh2", 2)),
            recentCount); // [B, Hg, r]
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
    String index = b.concat(pre + "kept_index", 2, heavyIndex, recentIndex); // [B, Hg, min(T, B)]
    String indexShape = b.op("Shape", pre + "index_shape", index); // [B, Hg, k]
    // Keys and values: GatherND over whole [D] rows with the batch and head axes as batch dims, so
    // the index stays [B, Hg, k, 1]; GatherElements needed it expanded to [B, Hg, k, D] int64,
    // which
    // cost more per decode step than the rows it copied (docs/results.md).
    String rowIndex = b.unsqueeze(index, 3); // [B, Hg, k, 1]
    List<String> rows = List.of(k, v);
    List<String> rowParts = List.of("key", "value");
    for (int i = 0; i < rows.size(); i++) {
      b.node(
          "GatherND",
          List.of(rows.get(i), rowIndex),
          List.of(DecodeCacheGroup.PRESENT + g.name(rowParts.get(i))),
          GraphBuilder.intAttr("batch_dims", 2));
    }
    b.node(
        "GatherElements",
        List.of(scores, index),
        List.of(DecodeCacheGroup.PRESENT + g.name("scores")),
        GraphBuilder.intAttr("axis", 2));
    return new Kept(index, indexShape, keepCount);
  }
}
