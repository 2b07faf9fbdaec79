package io.headwise.export.attention;

import io.headwise.export.attention.DecodeOps.CoreInputs;
import io.headwise.graph.GraphBuilder;
import java.util.List;

/**
 * The decode attention of a full, streaming or elastic cache group: its caches carry the absolute
 * position of every entry, so the prefill keep rule (sinks plus span(n) = max(0, α + β·n), see
 * docs/headwise-attention.md) is applied exactly to the cache plus the new tokens, and the present
 * cache keeps only the entries the next token's rule still reaches. Split from the budget caches
 * ({@link BudgetCacheAttention}) because the two keep rules share nothing but the score product.
 */
final class WindowedCacheAttention {
  private WindowedCacheAttention() {}

  /**
   * What the compensation entry ({@link RazorCompensation}) reads of a windowed group's attention.
   *
   * @param q the group's queries [B, Hq, S, D]
   * @param k cache plus new keys [B, Hg, T, D]
   * @param v cache plus new values
   * @param scores scaled scores [B, Hq, S, T]
   * @param masked scores with the entries the rule drops at −∞
   * @param keep [S, T] entries each query attends to
   * @param order [S, T] entries at or before each query
   * @param select [T] entries the present cache keeps
   * @param localHeads per query head its kv head within the group, or null when they coincide
   */
  record Window(
      String q,
      String k,
      String v,
      String scores,
      String masked,
      String keep,
      String order,
      String select,
      String localHeads,
      String zero,
      String one,
      String minusInf) {}

  /**
   * Attention of one group's query heads over its cache plus the new tokens, and the group's
   * present cache: the entries whose positions the next token's keep rule reaches (Compress along
   * the token axis).
   *
   * @param newPositions int64 [S] positions of the new tokens
   * @param queryPos float [S, 1] the same as a column
   * @param nextPos float scalar: the position of the next token
   */
  static String attend(
      BodyBuilder b,
      DecodeCacheGroup g,
      CoreInputs in,
      String newPositions,
      String queryPos,
      String nextPos) {
    String pre = "g" + g.group() + "_";
    long[] kvs = DecodeOps.kvHeads(g);
    long[] local = DecodeOps.localKvHeads(g, in.kvHeads());
    String past = DecodeCacheGroup.PAST;
    String q = DecodeOps.groupQuery(b, pre, in.query(), DecodeOps.queryHeads(g));
    String k =
        b.concat(
            pre + "keys",
            2,
            past + g.name("key"),
            b.gather(pre + "new_keys", in.newKey(), b.longVector(pre + "kv", kvs), 1));
    String v =
        b.concat(
            pre + "values",
            2,
            past + g.name("value"),
            b.gather(pre + "new_values", in.newValue(), b.longVector(pre + "kv_v", kvs), 1));
    String positions =
        b.concat(pre + "positions", 0, past + g.name("positions"), newPositions); // [L + S]
    boolean sameHeads = local.length == kvs.length;
    for (int i = 0; i < local.length && sameHeads; i++) {
      sameHeads = local[i] == i;
    }
    String kq =
        sameHeads ? k : b.gather(pre + "key_per_query", k, b.longVector(pre + "local", local), 1);
    String vq =
        sameHeads
            ? v
            : b.gather(pre + "value_per_query", v, b.longVector(pre + "local_v", local), 1);
    String scores =
        DecodeOps.scaledScores(b, q, kq, in.scale(), pre + "scores", pre + "qk", pre + "scale");
    String keyPos = b.cast(positions, GraphBuilder.FLOAT); // [L + S]
    String keyPosRow = b.reshape(keyPos, 1, -1);
    String diff = b.op("Sub", pre + "distance", queryPos, keyPosRow); // [S, L + S]
    String zero = b.floatScalar(pre + "zero", 0f);
    String one = b.floatScalar(pre + "one", 1f);
    String order = b.not(b.less(diff, zero));
    String keep;
    String select;
    if (g.kind() == HeadwiseAttentionOp.KIND_FULL) {
      keep = order;
      select = null;
    } else {
      String alpha = b.floatScalar(pre + "alpha", g.alpha());
      String beta = b.floatScalar(pre + "beta", g.beta());
      String sink = b.floatScalar(pre + "sink", (float) g.sinkTokens());
      String span = span(b, pre, "", alpha, beta, queryPos, one, zero); // [S, 1]
      keep = b.and(order, b.or(b.less(keyPosRow, sink), b.less(diff, span)));
      String nextSpan = span(b, pre, "next_", alpha, beta, nextPos, one, zero);
      select =
          b.or(
              b.less(keyPos, sink),
              b.less(b.op("Sub", pre + "next_distance", nextPos, keyPos), nextSpan));
    }
    String minusInf = b.floatScalar(pre + "minus_inf", Float.NEGATIVE_INFINITY);
    String masked = b.where(keep, scores, minusInf);
    String safe = DecodeOps.safeSoftmax(b, pre, masked, zero);
    String out = b.op("MatMul", pre + "out", safe, vq);
    if (g.compensation()) {
      String localHeads = sameHeads ? null : b.longVector(pre + "comp_local", local);
      Window w =
          new Window(q, k, v, scores, masked, keep, order, select, localHeads, zero, one, minusInf);
      out = RazorCompensation.apply(b, g, pre, out, w, in.scale());
    }
    writePresent(b, g, select, List.of(k, v, positions));
    return out;
  }

  /**
   * span(n) = max(0, α + β·n) at n = position + 1, in float32 as the op computes it: β·n rounded,
   * then + α. {@code which} prefixes the node names ("" for the new queries, "next_" for the next
   * token).
   */
  private static String span(
      BodyBuilder b,
      String pre,
      String which,
      String alpha,
      String beta,
      String position,
      String one,
      String zero) {
    return b.op(
        "Max",
        pre + which + "span",
        b.op(
            "Add",
            pre + which + "ab",
            alpha,
            b.op("Mul", pre + which + "bn", beta, b.op("Add", pre + which + "n", position, one))),
        zero);
  }

  /**
   * The present key, value and positions caches: everything ({@code select} null: a full group) or
   * the entries {@code select} marks.
   */
  private static void writePresent(
      BodyBuilder b, DecodeCacheGroup g, String select, List<String> keyValuePositions) {
    List<String> parts = List.of("key", "value", "positions");
    long[] tokenAxis = {2, 2, 0};
    for (int i = 0; i < parts.size(); i++) {
      String present = DecodeCacheGroup.PRESENT + g.name(parts.get(i));
      if (select == null) {
        b.node("Identity", List.of(keyValuePositions.get(i)), List.of(present));
      } else {
        b.node(
            "Compress",
            List.of(keyValuePositions.get(i), select),
            List.of(present),
            GraphBuilder.intAttr("axis", tokenAxis[i]));
      }
    }
  }
}
