package io.headwise.export.attention;

import io.headwise.graph.AttentionBlock;
import io.headwise.graph.AttentionMap;
import io.headwise.graph.OnnxModel;
import io.headwise.schemas.HeadwiseException;
import io.headwise.schemas.PlanMeta;
import io.headwise.schemas.PlanRow;
import java.util.ArrayList;
import java.util.List;

/**
 * Checks a plan against a model and its attention map and turns it into one {@link LayerPlan} per
 * layer: the plan must be for this model (by model id), have the model's layers and heads, one row
 * per (layer, head) of one granularity, and only head kinds the op can evaluate. kv-head rows apply
 * to every query head of their group.
 *
 * <p>The checks of the plan as a whole live here; {@link PlanRowReader} reads each layer's rows
 * (kinds, spans, budgets and the method params) into its {@link LayerPlan}.
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
      plans.add(PlanRowReader.layerPlan(l, block, grid[l], perKvHead, planId));
    }
    return plans;
  }
}
