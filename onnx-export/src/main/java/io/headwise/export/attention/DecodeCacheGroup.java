package io.headwise.export.attention;

import java.util.List;

/**
 * One KV cache tensor pair of a decode graph: the kv heads of one layer that follow the same policy
 * (kind, sinks, α, β) share it. Inputs {@code past.<layer>.<group>.key|value} plus {@code
 * positions} (full/streaming/elastic) or {@code scores} (budget), outputs the same names with
 * {@code present.} (see docs/decode.md).
 *
 * @param layer attention layer
 * @param group index of the group within the layer
 * @param kind head kind code ({@link HeadwiseAttentionOp#KIND_FULL}, streaming or elastic)
 * @param sinkTokens sink tokens (windowed groups)
 * @param alpha α of span(n) = max(0, α + β·n)
 * @param beta β of span(n)
 * @param budgetTokens budget groups (H2O, EMS): entries kept per kv head (besides an EMS merge
 *     slot)
 * @param recentTokens budget groups: most recent tokens always kept (the rest are heavy hitters)
 * @param kvHeads the model's kv heads held in this group's tensors, in tensor order
 * @param queryHeads the query heads that read them
 * @param compensation streaming/elastic groups with RazorAttention's compensation entry, or budget
 *     groups with EMS's merge slot: the sums of the evicted keys and values and their count are
 *     carried as caches ({@code sum_key}, {@code sum_value}, {@code dropped}) and enter attention
 *     as one entry per kv head (mean key, logit + ln count; mean value)
 */
public record DecodeCacheGroup(
    int layer,
    int group,
    int kind,
    long sinkTokens,
    float alpha,
    float beta,
    long budgetTokens,
    long recentTokens,
    List<Integer> kvHeads,
    List<Integer> queryHeads,
    boolean compensation) {
  /** Prefix of cache inputs. */
  public static final String PAST = "past.";

  /** Prefix of cache outputs. */
  public static final String PRESENT = "present.";

  /**
   * True for a budget group (H2O, EMS): per-head accumulated scores [B, H_g, L] are carried as a
   * cache, and no positions (the budget layout of docs/decode.md: heavy hitters, then the most
   * recent tokens in order).
   */
  public boolean budget() {
    return kind == HeadwiseAttentionOp.KIND_BUDGET;
  }

  /**
   * Name of the cache tensor {@code part} (key, value, positions, scores) without the past/present
   * prefix.
   */
  public String name(String part) {
    return layer + "." + group + "." + part;
  }

  /**
   * Tokens the group keeps once the cache has seen {@code n} tokens (what the next query reads,
   * excluding it).
   */
  public long cachedTokens(long n) {
    if (kind == HeadwiseAttentionOp.KIND_FULL) {
      return n;
    }
    if (kind == HeadwiseAttentionOp.KIND_BUDGET) {
      return Math.min(n, budgetTokens);
    }
    float span =
        Math.max(
            0f, alpha + beta * (float) (n + 1)); // the next query is token n, the cache then n + 1
    long kept = 0;
    for (long j = 0; j < n; j++) {
      if (j < sinkTokens || n - j < span) {
        kept++;
      }
    }
    return kept;
  }
}
