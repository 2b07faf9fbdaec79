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
 * @param budgetTokens budget groups (H2O, EMS): per kv head of the group (in tensor order), the
 *     entries it keeps (besides an EMS merge slot); empty for other groups. The budget heads of a
 *     layer with one recent count share one group whatever their budgets: its tensors hold {@link
 *     #capacity()} entries per head, and a head with a smaller budget marks the rest dead
 *     (docs/decode.md)
 * @param recentTokens budget groups: the most recent tokens every head of the group always keeps
 *     (the rest are heavy hitters)
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
    List<Long> budgetTokens,
    long recentTokens,
    List<Integer> kvHeads,
    List<Integer> queryHeads,
    boolean compensation) {
  public DecodeCacheGroup {
    budgetTokens = List.copyOf(budgetTokens);
  }

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

  /** Budget groups: entries per head of the cache tensors once full, the largest budget. */
  public long capacity() {
    return budgetTokens.stream().mapToLong(Long::longValue).max().orElse(0);
  }

  /** Budget groups: the smallest budget of the group's heads. */
  public long smallestBudget() {
    return budgetTokens.stream().mapToLong(Long::longValue).min().orElse(0);
  }

  /** True for a budget group whose heads have different budgets, so some hold dead entries. */
  public boolean padded() {
    return capacity() != smallestBudget();
  }

  /**
   * Entries per head of the group's cache tensors once the cache has seen {@code n} tokens (what
   * the next query reads, excluding it; for a budget group including the dead entries of heads
   * whose budget is below {@link #capacity()}).
   */
  public long cachedTokens(long n) {
    if (kind == HeadwiseAttentionOp.KIND_FULL) {
      return n;
    }
    if (kind == HeadwiseAttentionOp.KIND_BUDGET) {
      return Math.min(n, capacity());
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
