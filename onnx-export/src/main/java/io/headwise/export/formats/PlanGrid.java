package io.headwise.export.formats;

import com.fasterxml.jackson.databind.JsonNode;
import io.headwise.schemas.HeadwiseException;
import io.headwise.schemas.Json;
import io.headwise.schemas.PlanMeta;
import io.headwise.schemas.PlanRow;
import java.io.IOException;
import java.util.List;

/**
 * A validated plan as a layer × head grid: one plan id and model id matching the metadata, one
 * granularity, and exactly one row per (layer, head) of that granularity. Gives access per kv head
 * or per query head (query head h reads kv head ⌊h/g⌋).
 */
final class PlanGrid {
  /**
   * Row params key of RazorAttention's compensation entry (written by the razor planner, read by
   * the HeadwiseAttention and decode exports).
   */
  static final String COMPENSATION_TOKENS = "compensation_tokens";

  final PlanMeta meta;
  final String granularity;
  final int numLayers;
  final int numHeads;
  final int numKvHeads;
  private final PlanRow[][] rows;

  private PlanGrid(PlanMeta meta, String granularity, PlanRow[][] rows) {
    this.meta = meta;
    this.granularity = granularity;
    this.numLayers = meta.numLayers();
    this.numHeads = meta.numHeads();
    this.numKvHeads = meta.numKvHeads();
    this.rows = rows;
  }

  static PlanGrid of(PlanMeta meta, List<PlanRow> rows) {
    if (rows == null || rows.isEmpty()) {
      throw new HeadwiseException("plan " + meta.planId() + " has no rows to export");
    }
    if (meta.numKvHeads() <= 0 || meta.numHeads() % meta.numKvHeads() != 0) {
      throw new HeadwiseException(
          "plan "
              + meta.planId()
              + " has "
              + meta.numHeads()
              + " query heads and "
              + meta.numKvHeads()
              + " kv heads; its metadata is inconsistent");
    }
    String granularity = rows.get(0).granularity();
    if (!PlanRow.KV_HEAD.equals(granularity) && !PlanRow.QUERY_HEAD.equals(granularity)) {
      throw new HeadwiseException(
          "plan " + meta.planId() + " has unknown granularity '" + granularity + "'");
    }
    int headsPerLayer = PlanRow.KV_HEAD.equals(granularity) ? meta.numKvHeads() : meta.numHeads();
    PlanRow[][] grid = new PlanRow[meta.numLayers()][headsPerLayer];
    for (PlanRow r : rows) {
      if (!r.planId().equals(meta.planId()) || !r.modelId().equals(meta.modelId())) {
        throw new HeadwiseException(
            "row for layer "
                + r.layer()
                + ", head "
                + r.head()
                + " belongs to plan "
                + r.planId()
                + " of model "
                + r.modelId()
                + ", not to plan "
                + meta.planId()
                + " of model "
                + meta.modelId()
                + "; export one plan at a time");
      }
      if (!r.granularity().equals(granularity)) {
        throw new HeadwiseException(
            "plan "
                + meta.planId()
                + " mixes granularities "
                + granularity
                + " and "
                + r.granularity());
      }
      if (r.layer() < 0
          || r.layer() >= meta.numLayers()
          || r.head() < 0
          || r.head() >= headsPerLayer) {
        throw new HeadwiseException(
            "plan "
                + meta.planId()
                + " has a row for layer "
                + r.layer()
                + ", head "
                + r.head()
                + " outside the model's "
                + meta.numLayers()
                + " layers x "
                + headsPerLayer
                + " heads");
      }
      if (grid[r.layer()][r.head()] != null) {
        throw new HeadwiseException(
            "plan "
                + meta.planId()
                + " has two rows for layer "
                + r.layer()
                + ", head "
                + r.head());
      }
      grid[r.layer()][r.head()] = r;
    }
    for (int l = 0; l < grid.length; l++) {
      for (int h = 0; h < headsPerLayer; h++) {
        if (grid[l][h] == null) {
          throw new HeadwiseException(
              "plan "
                  + meta.planId()
                  + " has no row for layer "
                  + l
                  + ", head "
                  + h
                  + " ("
                  + granularity
                  + ")");
        }
      }
    }
    return new PlanGrid(meta, granularity, grid);
  }

  /**
   * Refuses a plan whose heads carry RazorAttention's compensation entry: none of the engine
   * formats has one, so the files would deploy a different plan (the window one token shorter and
   * the dropped tokens lost) from the one evaluated. The plan made with {@code compensation=none}
   * gives the entry's slot to the window and exports as it was evaluated.
   */
  void refuseCompensation(String format) {
    for (PlanRow[] layer : rows) {
      for (PlanRow r : layer) {
        long entries = compensationTokens(r);
        if (entries > 0) {
          throw new HeadwiseException(
              "plan "
                  + meta.planId()
                  + " summarises the dropped tokens of layer "
                  + r.layer()
                  + ", head "
                  + r.head()
                  + " by "
                  + entries
                  + " compensation entry (RazorAttention), which the "
                  + format
                  + " format cannot carry; the engine would run another plan than the one evaluated: plan with"
                  + " --option compensation=none (the window takes the entry's slot), evaluate that plan and"
                  + " export it");
        }
      }
    }
  }

  private static long compensationTokens(PlanRow r) {
    if (r.paramsJson() == null || r.paramsJson().isBlank()) {
      return 0;
    }
    try {
      JsonNode value = Json.MAPPER.readTree(r.paramsJson()).get(COMPENSATION_TOKENS);
      return value != null && value.isNumber() ? value.asLong() : 0;
    } catch (IOException e) {
      throw new HeadwiseException(
          "layer "
              + r.layer()
              + ", head "
              + r.head()
              + " of plan "
              + r.planId()
              + " has params that are not JSON: "
              + e.getMessage(),
          e);
    }
  }

  int groupSize() {
    return numHeads / numKvHeads;
  }

  boolean isKvHeadGranular() {
    return PlanRow.KV_HEAD.equals(granularity);
  }

  /** Rows of the layer in the plan's own granularity. */
  PlanRow[] layer(int layer) {
    return rows[layer];
  }

  /** The row that applies to query head {@code head} (its kv head's row for kv-head plans). */
  PlanRow queryHead(int layer, int head) {
    return isKvHeadGranular() ? rows[layer][head / groupSize()] : rows[layer][head];
  }

  /** The rows that apply to kv head {@code kvHead}: itself, or the query heads of its group. */
  PlanRow[] kvGroup(int layer, int kvHead) {
    if (isKvHeadGranular()) {
      return new PlanRow[] {rows[layer][kvHead]};
    }
    int g = groupSize();
    PlanRow[] out = new PlanRow[g];
    System.arraycopy(rows[layer], kvHead * g, out, 0, g);
    return out;
  }
}
