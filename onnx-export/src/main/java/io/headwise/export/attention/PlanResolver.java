package io.headwise.export.attention;

import com.fasterxml.jackson.databind.JsonNode;
import io.headwise.graph.AttentionBlock;
import io.headwise.graph.AttentionMap;
import io.headwise.graph.OnnxModel;
import io.headwise.schemas.HeadwiseException;
import io.headwise.schemas.Json;
import io.headwise.schemas.PlanMeta;
import io.headwise.schemas.PlanRow;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Checks a plan against a model and its attention map and turns it into one {@link LayerPlan} per
 * layer: the plan must be for this model (by model id), have the model's layers and heads, one row
 * per (layer, head) of one granularity, and only head kinds the op can evaluate. kv-head rows apply
 * to every query head of their group.
 *
 * <p>One class (about 430 lines, most of it refusal messages): every check reads the same plan,
 * model and attention map, and the checks must run in this order so that a bad plan gets the one
 * error that names its first problem.
 */
final class PlanResolver {
  /** The budget method the body simulates. */
  static final String H2O = "h2o";

  /**
   * EMS (as reconstructed by the ems planner): an H2O-style budget cache whose evicted tokens merge
   * into a per-head merge slot; decode graphs only.
   */
  static final String EMS = "ems";

  /** Plan params key of an EMS budget head's merge slots (0 or 1). */
  static final String MERGE_TOKENS = "merge_tokens";

  /** Plan params keys of the H2O split (written by the h2o planner). */
  static final String RECENT_BUDGET_TOKENS = "recent_budget_tokens";

  static final String HEAVY_BUDGET_TOKENS = "heavy_budget_tokens";

  /**
   * Plan params key of the compensation entries of a streaming/elastic head (RazorAttention: 0 or
   * 1).
   */
  static final String COMPENSATION_TOKENS = "compensation_tokens";

  private PlanResolver() {}

  static List<LayerPlan> resolve(
      OnnxModel model, AttentionMap map, PlanMeta meta, List<PlanRow> rows) {
    String planId = meta.planId();
    if (!meta.modelId().equals(model.modelId())) {
      throw new HeadwiseException(
          "plan "
              + planId
              + " was made for model "
              + meta.modelId()
              + ", not for "
              + model.source()
              + " ("
              + model.modelId()
              + "); refusing to apply it: export a plan of this model");
    }
    if (!map.modelId().equals(model.modelId())) {
      throw new HeadwiseException(
          "the attention map is of model "
              + map.modelId()
              + ", not of "
              + model.source()
              + " ("
              + model.modelId()
              + "); locate the attention of the model being exported");
    }
    if (!map.unsupported().isEmpty()) {
      throw new HeadwiseException(
          "model "
              + model.source()
              + " has attention HeadwiseAttention cannot rewrite: "
              + map.unsupported().get(0).describe()
              + "; export the model with explicit (eager) attention");
    }
    map.requireAttention(model.source());
    if (rows == null || rows.isEmpty()) {
      throw new HeadwiseException("plan " + planId + " has no rows to export");
    }
    String granularity = rows.get(0).granularity();
    if (!PlanRow.KV_HEAD.equals(granularity) && !PlanRow.QUERY_HEAD.equals(granularity)) {
      throw new HeadwiseException(
          "plan "
              + planId
              + " has unknown granularity '"
              + granularity
              + "' (expected "
              + PlanRow.KV_HEAD
              + " or "
              + PlanRow.QUERY_HEAD
              + ")");
    }
    boolean perKvHead = PlanRow.KV_HEAD.equals(granularity);
    int layers = map.numLayers();
    int maxRowLayer = -1;
    for (PlanRow r : rows) {
      if (!r.modelId().equals(model.modelId())) {
        throw new HeadwiseException(
            "plan "
                + planId
                + " has a row (layer "
                + r.layer()
                + ", head "
                + r.head()
                + ") made for model "
                + r.modelId()
                + ", not for "
                + model.source()
                + " ("
                + model.modelId()
                + "); refusing to apply it");
      }
      if (!r.planId().equals(planId)) {
        throw new HeadwiseException(
            "row for layer "
                + r.layer()
                + ", head "
                + r.head()
                + " belongs to plan "
                + r.planId()
                + ", not to plan "
                + planId
                + "; export one plan at a time");
      }
      if (!r.granularity().equals(granularity)) {
        throw new HeadwiseException(
            "plan "
                + planId
                + " mixes granularities "
                + granularity
                + " and "
                + r.granularity()
                + " (layer "
                + r.layer()
                + ", head "
                + r.head()
                + ")");
      }
      if (r.layer() < 0) {
        throw new HeadwiseException("plan " + planId + " has a row for layer " + r.layer());
      }
      maxRowLayer = Math.max(maxRowLayer, r.layer());
    }
    if (maxRowLayer >= layers || meta.numLayers() > layers) {
      int layer = Math.max(maxRowLayer, meta.numLayers() - 1);
      throw new HeadwiseException(
          "plan "
              + planId
              + " plans layer "
              + layer
              + " but model "
              + model.source()
              + " has "
              + layers
              + " attention layers (0.."
              + (layers - 1)
              + "); the plan is for another model shape");
    }
    PlanRow[][] grid = new PlanRow[layers][];
    for (int l = 0; l < layers; l++) {
      AttentionBlock block = map.block(l);
      if (l >= meta.numLayers()
          || block.numHeads() != meta.numHeads()
          || block.numKvHeads() != meta.numKvHeads()) {
        throw new HeadwiseException(
            "plan "
                + planId
                + " does not fit layer "
                + l
                + " of model "
                + model.source()
                + ": the layer has "
                + block.numHeads()
                + " query heads and "
                + block.numKvHeads()
                + " kv heads, the"
                + " plan was made for "
                + meta.numLayers()
                + " layers of "
                + meta.numHeads()
                + " query heads and "
                + meta.numKvHeads()
                + " kv heads");
      }
      grid[l] = new PlanRow[perKvHead ? block.numKvHeads() : block.numHeads()];
    }
    for (PlanRow r : rows) {
      PlanRow[] layer = grid[r.layer()];
      if (r.head() < 0 || r.head() >= layer.length) {
        throw new HeadwiseException(
            "plan "
                + planId
                + " has a row for layer "
                + r.layer()
                + ", head "
                + r.head()
                + ", but layer "
                + r.layer()
                + " has "
                + layer.length
                + " "
                + (perKvHead ? "kv" : "query")
                + " heads");
      }
      if (layer[r.head()] != null) {
        throw new HeadwiseException(
            "plan " + planId + " has two rows for layer " + r.layer() + ", head " + r.head());
      }
      layer[r.head()] = r;
    }
    List<LayerPlan> plans = new ArrayList<>(layers);
    for (int l = 0; l < layers; l++) {
      AttentionBlock block = map.block(l);
      for (int h = 0; h < grid[l].length; h++) {
        if (grid[l][h] == null) {
          throw new HeadwiseException(
              "plan "
                  + planId
                  + " has no row for layer "
                  + l
                  + ", head "
                  + h
                  + " ("
                  + granularity
                  + "); the plan is incomplete");
        }
      }
      plans.add(layerPlan(l, block, grid[l], perKvHead, planId));
    }
    return plans;
  }

  private static LayerPlan layerPlan(
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
    if (r.paramsJson() != null && !r.paramsJson().isBlank()) {
      JsonNode params;
      try {
        params = Json.MAPPER.readTree(r.paramsJson());
      } catch (IOException e) {
        throw new HeadwiseException(where + " has params that are not JSON: " + e.getMessage(), e);
      }
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
