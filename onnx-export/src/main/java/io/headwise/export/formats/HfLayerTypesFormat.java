package io.headwise.export.formats;

import io.headwise.schemas.HeadwiseException;
import io.headwise.schemas.PlanMeta;
import io.headwise.schemas.PlanRow;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Hugging Face {@code layer_types} config fragment, {@code layer_types.json}: {@code "layer_types"}
 * ({@code "full_attention"} / {@code "sliding_attention"} per layer) and {@code "sliding_window"}, to merge into a
 * model's config.json, plus {@code headwise_plan_id} / {@code headwise_model_id}.
 *
 * <p>Only plans uniform within each layer (every head of the layer the same kind, sinks and span) with one fixed
 * window across all sliding layers can be written; anything else is refused, naming the layer. A
 * streaming/elastic layer needs beta = 0; its window is sinkTokens + alpha, the tokens it keeps. HF sliding
 * attention keeps no sink tokens, so sinks are folded into the window (same KV memory, a different choice of
 * tokens) and {@code headwise_note} says so.
 */
public final class HfLayerTypesFormat implements PlanFormat {
  public static final String NAME = "hf";
  public static final String FILE = "layer_types.json";
  public static final String FULL_ATTENTION = "full_attention";
  public static final String SLIDING_ATTENTION = "sliding_attention";

  @Override
  public String name() {
    return NAME;
  }

  @Override
  public void write(PlanMeta meta, List<PlanRow> rows, Path outputDir) {
    PlanGrid grid = PlanGrid.of(meta, rows);
    List<String> types = new ArrayList<>();
    Integer window = null;
    int windowLayer = -1;
    int sinks = 0;
    for (int l = 0; l < grid.numLayers; l++) {
      PlanRow[] layer = grid.layer(l);
      PlanRow first = layer[0];
      for (PlanRow r : layer) {
        if (!r.kind().equals(first.kind()) || r.sinkTokens() != first.sinkTokens() || r.alpha() != first.alpha()
            || r.beta() != first.beta() || r.budgetTokens() != first.budgetTokens()) {
          throw new HeadwiseException("Hugging Face layer_types needs every head of a layer to share one policy,"
              + " but layer " + l + " of plan " + meta.planId() + " is not uniform: head " + first.head() + " is '"
              + first.kind() + "' and head " + r.head() + " is '" + r.kind() + "' with different parameters");
        }
      }
      switch (first.kind()) {
        case PlanRow.FULL:
          types.add(FULL_ATTENTION);
          break;
        case PlanRow.STREAMING:
        case PlanRow.ELASTIC: {
          if (first.beta() != 0.0) {
            throw new HeadwiseException("Hugging Face sliding_window is a fixed size, but layer " + l + " of plan "
                + meta.planId() + " keeps a window growing with N (beta=" + first.beta() + ")");
          }
          int w = (int) Math.round(first.sinkTokens() + first.alpha());
          if (window != null && w != window) {
            throw new HeadwiseException("Hugging Face has one sliding_window for all sliding layers, but layer " + l
                + " of plan " + meta.planId() + " keeps " + w + " tokens and layer " + windowLayer + " keeps "
                + window);
          }
          window = w;
          windowLayer = l;
          sinks = Math.max(sinks, first.sinkTokens());
          types.add(SLIDING_ATTENTION);
          break;
        }
        default:
          throw new HeadwiseException("Hugging Face layer_types has no '" + first.kind() + "' attention: layer " + l
              + " of plan " + meta.planId() + " cannot be written as full or sliding attention");
      }
    }
    Map<String, Object> json = new LinkedHashMap<>();
    json.put("layer_types", types);
    json.put("sliding_window", window);
    json.put("headwise_plan_id", meta.planId());
    json.put("headwise_model_id", meta.modelId());
    if (sinks > 0) {
      json.put("headwise_note", "the plan keeps " + sinks + " attention-sink tokens per sliding layer; HF sliding"
          + " attention has none, so they are folded into sliding_window (same KV size, recent tokens instead)");
    }
    AtomicOutput.write(outputDir, Map.of(FILE, Json.bytes(json)));
  }
}
