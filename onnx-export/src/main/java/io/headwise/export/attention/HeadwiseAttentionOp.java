package io.headwise.export.attention;

import io.headwise.schemas.PlanRow;
import java.util.List;

/**
 * Names of the {@code ai.headwise::HeadwiseAttention} op: domain, version, inputs, attributes and
 * head-kind codes (see docs/headwise-attention.md for the semantics).
 *
 * <p>Every attribute is a TENSOR attribute (1-D per query head, or a scalar), because the reference
 * body reads them through {@code Constant(value = @attr)}, the only attribute-reading form that
 * exists at every default-domain opset from 11 on ({@code value_ints}/{@code value_floats} appear
 * only at opset 12).
 */
public final class HeadwiseAttentionOp {
  /** The op's domain. */
  public static final String DOMAIN = "ai.headwise";

  /** The op type (and the name of the model-local function that defines it). */
  public static final String OP_TYPE = "HeadwiseAttention";

  /** The domain version the model imports. */
  public static final int VERSION = 1;

  /** Input 0: Q [B, H, Tq, D], unscaled. */
  public static final String INPUT_QUERY = "query";

  /** Input 1: K [B, Hkv, Tk, D] (not transposed). */
  public static final String INPUT_KEY = "key";

  /** Input 2: V [B, Hkv, Tk, Dv]. */
  public static final String INPUT_VALUE = "value";

  /**
   * Input 3: additive mask broadcastable to [B, H, Tq, Tk] (a scalar 0 when the model has none).
   */
  public static final String INPUT_MASK = "mask";

  /** Output 0: the per-head attention output [B, H, Tq, Dv]. */
  public static final String OUTPUT = "output";

  /** int64 [H]: head kind code per query head ({@link #KIND_FULL} ... {@link #KIND_BUDGET}). */
  public static final String ATTR_KINDS = "kinds";

  /** int64 [H] (or scalar, default 0): sink tokens per query head. */
  public static final String ATTR_SINK_TOKENS = "sink_tokens";

  /** float [H] (or scalar, default 0): α of span(n) = max(0, α + β·n). */
  public static final String ATTR_ALPHA = "alpha";

  /** float [H] (or scalar, default 0): β of span(n) = max(0, α + β·n). */
  public static final String ATTR_BETA = "beta";

  /** int64 [H] (or scalar, default 0): token budget of budget heads. */
  public static final String ATTR_BUDGET_TOKENS = "budget_tokens";

  /** int64 [H] (or scalar, default 0): most recent tokens a budget head always keeps. */
  public static final String ATTR_RECENT_TOKENS = "recent_tokens";

  /**
   * int64 [H] (or scalar −1, default: every query head alone): budget heads with the same group id
   * share one selection, scored by the mean of their accumulated attention (one KV cache per kv
   * head).
   */
  public static final String ATTR_BUDGET_GROUPS = "budget_groups";

  /**
   * int64 [H] (or scalar, default 0): 1 for a streaming/elastic head whose dropped keys and values
   * are summarised by one compensation entry (RazorAttention): their mean key and mean value, with
   * ln(number dropped) added to its logit.
   */
  public static final String ATTR_COMPENSATION = "compensation";

  /** int64 [H]: the kv head (index into input K/V's head axis) that each query head reads. */
  public static final String ATTR_KV_HEADS = "kv_heads";

  /** float scalar: the factor applied to Q·Kᵀ. */
  public static final String ATTR_SCALE = "scale";

  /**
   * float scalar (default 0 = none): when &gt; 0 the scaled scores s become softcap·tanh(s/softcap)
   * before the mask input and the plan's mask are applied (Gemma-2 style logit soft-capping).
   */
  public static final String ATTR_SOFTCAP = "softcap";

  /**
   * int64 scalar: 1 for causal attention (query i never sees key j &gt; i), 0 for bidirectional.
   */
  public static final String ATTR_CAUSAL = "causal";

  /** Head kind code of {@code full} heads. */
  public static final int KIND_FULL = 0;

  /** Head kind code of {@code streaming} heads. */
  public static final int KIND_STREAMING = 1;

  /** Head kind code of {@code elastic} heads. */
  public static final int KIND_ELASTIC = 2;

  /** Head kind code of {@code budget} heads. */
  public static final int KIND_BUDGET = 3;

  /** Attributes a call site must carry. */
  public static final List<String> REQUIRED_ATTRIBUTES =
      List.of(ATTR_KINDS, ATTR_KV_HEADS, ATTR_SCALE, ATTR_CAUSAL);

  /** Attributes with defaults in the function (scalars broadcast over heads). */
  public static final List<String> OPTIONAL_ATTRIBUTES =
      List.of(
          ATTR_SINK_TOKENS,
          ATTR_ALPHA,
          ATTR_BETA,
          ATTR_BUDGET_TOKENS,
          ATTR_RECENT_TOKENS,
          ATTR_BUDGET_GROUPS,
          ATTR_COMPENSATION,
          ATTR_SOFTCAP);

  private HeadwiseAttentionOp() {}

  /** The kind code of a plan row's kind. */
  public static int kindCode(String kind) {
    switch (kind) {
      case PlanRow.FULL:
        return KIND_FULL;
      case PlanRow.STREAMING:
        return KIND_STREAMING;
      case PlanRow.ELASTIC:
        return KIND_ELASTIC;
      case PlanRow.BUDGET:
        return KIND_BUDGET;
      default:
        throw new IllegalArgumentException("unknown head kind '" + kind + "'");
    }
  }
}
