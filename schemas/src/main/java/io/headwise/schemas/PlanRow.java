package io.headwise.schemas;

/**
 * One row of the {@code attention_plans} table: the KV-cache policy of one head of one plan.
 *
 * <p>{@code head} indexes kv heads when {@code granularity} is {@link #KV_HEAD} and query heads
 * when it is {@link #QUERY_HEAD}. For {@code streaming}/{@code elastic} heads the kept span at
 * length N is {@code min(N, sinkTokens + max(0, alpha + beta * N))}; {@code full} keeps everything;
 * {@code budget} keeps {@code min(N, budgetTokens)} tokens chosen by a dynamic policy described in
 * {@code paramsJson}.
 */
public record PlanRow(
    String planId,
    String modelId,
    String statsRunId,
    String method,
    String granularity,
    int layer,
    int head,
    String kind,
    int sinkTokens,
    double alpha,
    double beta,
    int budgetTokens,
    String paramsJson)
    implements java.io.Serializable {

  public static final String KV_HEAD = "kv_head";
  public static final String QUERY_HEAD = "query_head";

  public static final String FULL = "full";
  public static final String STREAMING = "streaming";
  public static final String ELASTIC = "elastic";
  public static final String BUDGET = "budget";

  /** Tokens this head keeps in its KV cache at sequence length {@code n}. */
  public double keptTokens(int n) {
    switch (kind) {
      case FULL:
        return n;
      case BUDGET:
        return Math.min(n, budgetTokens);
      case STREAMING:
      case ELASTIC:
        return Math.min(n, sinkTokens + Math.max(0.0, alpha + beta * n));
      default:
        throw new IllegalStateException("unknown head kind '" + kind + "' in plan " + planId);
    }
  }
}
