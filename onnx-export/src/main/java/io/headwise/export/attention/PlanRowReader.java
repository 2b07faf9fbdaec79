package io.headwise.export.attention;

import static io.headwise.export.attention.PlanResolver.COMPENSATION_TOKENS;
import static io.headwise.export.attention.PlanResolver.EMS;
import static io.headwise.export.attention.PlanResolver.H2O;
import static io.headwise.export.attention.PlanResolver.HEAVY_BUDGET_TOKENS;
import static io.headwise.export.attention.PlanResolver.MERGE_TOKENS;
import static io.headwise.export.attention.PlanResolver.RECENT_BUDGET_TOKENS;

import com.fasterxml.jackson.databind.JsonNode;
import io.headwise.graph.AttentionBlock;
import io.headwise.schemas.HeadwiseException;
import io.headwise.schemas.Json;
import io.headwise.schemas.PlanRow;
import java.io.IOException;
import java.util.Locale;

/**
 * Reads one layer's plan rows into the per-head arrays of a {@link LayerPlan}: head kinds, sinks
 * and spans, budgets, and the method params ({@code params_json}) the op reads (H2O's recent/heavy
 * split, EMS's merge slot, RazorAttention's compensation entry), refusing a row the op cannot
 * evaluate. Apart from {@link PlanResolver} because it is per-row reading, where the resolver
 * checks the plan as a whole against the model.
 */
final class PlanRowReader {
  private PlanRowReader() {}

  /**
   * The per-head arrays of layer {@code layer} from its rows ({@code rows[h]} per query head, or
   * per kv head when {@code perKvHead}).
   */
  static LayerPlan layerPlan(
      int layer, AttentionBlock block, PlanRow[] rows, boolean perKvHead, String planId) {
    int heads = block.numHeads();
    long[] kinds = new long[heads];
    long[] sinks = new long[heads];
    float[] alpha = new float[heads];
    float[] beta = new float[heads];
    long[] budget = new long[heads];
    long[] recent = new long[heads];
    long[] groups = new long[heads];
    long[] compensation = new long[heads];
    long[] merge = new long[heads];
    for (int h = 0; h < heads; h++) {
      int rowHead = perKvHead ? block.kvHeadOf(h) : h;
      PlanRow r = rows[rowHead];
      groups[h] = rowHead;
      String where =
          "layer "
              + layer
              + ", "
              + (perKvHead ? "kv" : "query")
              + " head "
              + rowHead
              + " of plan "
              + planId;
      String kind = r.kind() == null ? "" : r.kind().toLowerCase(Locale.ROOT);
      switch (kind) {
        case PlanRow.FULL:
          kinds[h] = HeadwiseAttentionOp.KIND_FULL;
          break;
        case PlanRow.STREAMING:
        case PlanRow.ELASTIC:
          if (r.sinkTokens() < 0 || !Double.isFinite(r.alpha()) || !Double.isFinite(r.beta())) {
            throw new HeadwiseException(
                where
                    + " has sink_tokens "
                    + r.sinkTokens()
                    + ", alpha "
                    + r.alpha()
                    + ", beta "
                    + r.beta()
                    + "; a "
                    + kind
                    + " head needs sink_tokens >= 0 and finite alpha and beta");
          }
          kinds[h] = HeadwiseAttentionOp.kindCode(kind);
          sinks[h] = r.sinkTokens();
          alpha[h] = (float) r.alpha();
          beta[h] = (float) r.beta();
          compensation[h] = compensationTokens(r, where);
          break;
        case PlanRow.BUDGET:
          {
            String method = r.method() == null ? "" : r.method().toLowerCase(Locale.ROOT);
            if (!H2O.equals(method) && !EMS.equals(method)) {
              throw new HeadwiseException(
                  where
                      + " is a budget head of method '"
                      + r.method()
                      + "'; headwise implements only the h2o policy (heavy hitters + recent tokens)"
                      + " and EMS's evict-then-merge (decode graphs), so a "
                      + r.method()
                      + " plan"
                      + " cannot be exported or evaluated as a graph; serve it with an engine that implements "
                      + r.method());
            }
            if (!block.causal()) {
              throw new HeadwiseException(
                  where
                      + " is an h2o budget head, but layer "
                      + layer
                      + " is bidirectional;"
                      + " budget policies evict from a decoding KV cache and are defined for causal models only");
            }
            if (r.budgetTokens() < 1) {
              throw new HeadwiseException(
                  where
                      + " has budget_tokens "
                      + r.budgetTokens()
                      + "; a budget head keeps"
                      + " at least 1 token");
            }
            kinds[h] = HeadwiseAttentionOp.KIND_BUDGET;
            budget[h] = r.budgetTokens();
            recent[h] = recentTokens(r, where);
            if (EMS.equals(method)) {
              merge[h] = mergeTokens(r, where);
            }
            break;
          }
        default:
          throw new HeadwiseException(
              where
                  + " has unknown head kind '"
                  + r.kind()
                  + "' (expected full, streaming,"
                  + " elastic or budget)");
      }
    }
    return new LayerPlan(
        layer, kinds, sinks, alpha, beta, budget, recent, groups, compensation, merge);
  }

  /**
   * {@code merge_tokens} of an EMS budget row (0 or 1). EMS rows must also say their recent tokens:
   * a plan the ems planner wrote before the decode graph implemented its run-time policy has
   * neither key and is refused rather than read with H2O's defaults.
   */
  static long mergeTokens(PlanRow r, String where) {
    JsonNode params = params(r, where);
    JsonNode value = params == null ? null : params.get(MERGE_TOKENS);
    JsonNode recent = params == null ? null : params.get(RECENT_BUDGET_TOKENS);
    if (value == null || recent == null) {
      throw new HeadwiseException(
          where
              + " is an ems budget head without "
              + (value == null ? MERGE_TOKENS : RECENT_BUDGET_TOKENS)
              + " in its params (a plan made before headwise implemented EMS's evict-then-merge);"
              + " plan it again with headwise plan --method ems");
    }
    if (!value.isIntegralNumber() || value.asLong() < 0 || value.asLong() > 1) {
      throw new HeadwiseException(
          where
              + " has "
              + MERGE_TOKENS
              + " "
              + value
              + "; an EMS budget head merges its evicted tokens into at most one slot (0 or 1)");
    }
    return value.asLong();
  }

  /**
   * {@code compensation_tokens} of a streaming/elastic row's params: 0 (absent) or 1; anything else
   * is refused.
   */
  static long compensationTokens(PlanRow r, String where) {
    JsonNode params = params(r, where);
    JsonNode value = params == null ? null : params.get(COMPENSATION_TOKENS);
    if (value == null || value.isNull()) {
      return 0;
    }
    if (!value.isIntegralNumber() || value.asLong() < 0 || value.asLong() > 1) {
      throw new HeadwiseException(
          where
              + " has "
              + COMPENSATION_TOKENS
              + " "
              + value
              + "; HeadwiseAttention"
              + " summarises a head's dropped tokens by at most one compensation entry (0 or 1)");
    }
    return value.asLong();
  }

  private static JsonNode params(PlanRow r, String where) {
    if (r.paramsJson() == null || r.paramsJson().isBlank()) {
      return null;
    }
    try {
      return Json.MAPPER.readTree(r.paramsJson());
    } catch (IOException e) {
      throw new HeadwiseException(where + " has params that are not JSON: " + e.getMessage(), e);
    }
  }

  /**
   * Recent tokens of an h2o budget head: {@code recent_budget_tokens} from the row's params (capped
   * at the budget), else half the budget rounded down (H2O's default 1:1 heavy/recent split, as the
   * h2o planner rounds it).
   */
  static long recentTokens(PlanRow r, String where) {
    long budget = r.budgetTokens();
    JsonNode params = params(r, where);
    if (params != null) {
      JsonNode recent = params == null ? null : params.get(RECENT_BUDGET_TOKENS);
      if (recent != null && recent.isNumber()) {
        long value = recent.asLong();
        if (value < 0) {
          throw new HeadwiseException(
              where + " has " + RECENT_BUDGET_TOKENS + " " + value + "; it must be >= 0");
        }
        return Math.min(value, budget);
      }
      JsonNode heavy = params == null ? null : params.get(HEAVY_BUDGET_TOKENS);
      if (heavy != null && heavy.isNumber()) {
        return Math.max(0, budget - Math.min(heavy.asLong(), budget));
      }
    }
    return budget / 2;
  }
}
