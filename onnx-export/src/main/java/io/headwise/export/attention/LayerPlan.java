package io.headwise.export.attention;

/**
 * The plan of one attention layer as {@code HeadwiseAttention} attributes, one entry per query
 * head.
 *
 * @param layer the attention layer (block ordinal in the attention map)
 * @param kinds head kind codes ({@link HeadwiseAttentionOp#KIND_FULL} ... {@link
 *     HeadwiseAttentionOp#KIND_BUDGET})
 * @param sinkTokens sink tokens (streaming/elastic heads; 0 otherwise)
 * @param alpha α of span(n) = max(0, α + β·n) (streaming/elastic heads; 0 otherwise)
 * @param beta β of span(n) (streaming/elastic heads; 0 otherwise)
 * @param budgetTokens token budget (budget heads; 0 otherwise)
 * @param recentTokens most recent tokens a budget head always keeps (≤ budget; 0 otherwise)
 * @param budgetGroups heads with the same id share one budget selection (the kv head for kv-head
 *     plans, the query head itself for query-head plans)
 * @param compensation 1 for streaming/elastic heads whose dropped tokens are summarised by a
 *     compensation entry (RazorAttention), 0 otherwise
 * @param merge 1 for budget heads whose evicted tokens are merged into one per-head merge slot
 *     (EMS's evict-then-merge as reconstructed; decode graphs only), 0 otherwise
 */
record LayerPlan(
    int layer,
    long[] kinds,
    long[] sinkTokens,
    float[] alpha,
    float[] beta,
    long[] budgetTokens,
    long[] recentTokens,
    long[] budgetGroups,
    long[] compensation,
    long[] merge) {

  /** Query heads. */
  public int numHeads() {
    return kinds.length;
  }
}
