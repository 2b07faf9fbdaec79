package io.headwise.export.formats;

import io.headwise.schemas.HeadwiseException;
import io.headwise.schemas.Json;
import io.headwise.schemas.PlanMeta;
import io.headwise.schemas.PlanRow;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Hugging Face {@code layer_types} config fragment, {@code layer_types.json}, to merge into a
 * model's config.json: {@code "layer_types"} ({@code "full_attention"} / {@code
 * "sliding_attention"} per layer), {@code "sliding_window"} and the keys the model family needs for
 * them to take effect, plus {@code headwise_plan_id} / {@code headwise_model_id}.
 *
 * <p>Families (the config's {@code model_type}, {@link FormatOptions#hfModelType()}): only families
 * whose attention reads {@code config.layer_types} are written — {@code qwen2} and {@code qwen3},
 * whose configs also need {@code use_sliding_window: true} (otherwise they set {@code
 * sliding_window} to None and every layer is full) and whose versions before {@code layer_types}
 * derive the pattern from {@code max_window_layers} (layers ≥ it slide), which is written as the
 * first sliding layer. Families that ignore {@code layer_types} are refused by name ({@code llama}:
 * no sliding attention at all; {@code mistral}: one {@code sliding_window} for every layer), and so
 * are families not known here.
 *
 * <p>Only plans uniform within each layer (every head of the layer the same kind, sinks and span)
 * with one fixed window across all sliding layers can be written; anything else is refused, naming
 * the layer. A streaming/elastic layer needs beta = 0; its window is sinkTokens + alpha, the tokens
 * it keeps. HF sliding attention keeps no attention-sink tokens, and a window without sinks is the
 * failure case of the StreamingLLM paper, so a plan with sinks is refused unless {@link
 * FormatOptions#dropSinks()}: then the sinks become recent tokens (same KV memory) and the warning
 * names the plan to evaluate for the variant actually exported (the same windows with {@code
 * sink_tokens=0}). Rows with RazorAttention's compensation entry ({@code compensation_tokens}) are
 * refused: HF attention has no such entry.
 */
public final class HfLayerTypesFormat implements PlanFormat {
  public static final String NAME = "hf";
  public static final String FILE = "layer_types.json";
  public static final String FULL_ATTENTION = "full_attention";
  public static final String SLIDING_ATTENTION = "sliding_attention";

  /** model_type values whose attention honours config.layer_types. */
  public static final Set<String> SUPPORTED_FAMILIES = Set.of("qwen2", "qwen3");

  private static final Map<String, String> IGNORING_FAMILIES =
      Map.of(
          "llama", "Llama's config has no layer_types and its attention never slides",
          "mistral",
              "Mistral applies its one sliding_window to every layer and has no layer_types");

  @Override
  public String name() {
    return NAME;
  }

  @Override
  public List<String> write(
      PlanMeta meta, List<PlanRow> rows, Path outputDir, FormatOptions options) {
    String family = family(options);
    PlanGrid grid = PlanGrid.of(meta, rows);
    grid.refuseCompensation(NAME);
    List<String> types = new ArrayList<>();
    Integer window = null;
    int windowLayer = -1;
    int sinks = 0;
    for (int l = 0; l < grid.numLayers; l++) {
      PlanRow[] layer = grid.layer(l);
      PlanRow first = layer[0];
      for (PlanRow r : layer) {
        if (!r.kind().equals(first.kind())
            || r.sinkTokens() != first.sinkTokens()
            || r.alpha() != first.alpha()
            || r.beta() != first.beta()
            || r.budgetTokens() != first.budgetTokens()) {
          throw new HeadwiseException(
              "Hugging Face layer_types needs every head of a layer to share one policy,"
                  + " but layer "
                  + l
                  + " of plan "
                  + meta.planId()
                  + " is not uniform: head "
                  + first.head()
                  + " is '"
                  + first.kind()
                  + "' and head "
                  + r.head()
                  + " is '"
                  + r.kind()
                  + "' with different parameters");
        }
      }
      switch (first.kind()) {
        case PlanRow.FULL:
          types.add(FULL_ATTENTION);
          break;
        case PlanRow.STREAMING:
        case PlanRow.ELASTIC:
          {
            if (first.beta() != 0.0) {
              throw new HeadwiseException(
                  "Hugging Face sliding_window is a fixed size, but layer "
                      + l
                      + " of plan "
                      + meta.planId()
                      + " keeps a window growing with N (beta="
                      + first.beta()
                      + ")");
            }
            int w = (int) Math.round(first.sinkTokens() + first.alpha());
            if (window != null && w != window) {
              throw new HeadwiseException(
                  "Hugging Face has one sliding_window for all sliding layers, but layer "
                      + l
                      + " of plan "
                      + meta.planId()
                      + " keeps "
                      + w
                      + " tokens and layer "
                      + windowLayer
                      + " keeps "
                      + window);
            }
            window = w;
            windowLayer = l;
            sinks = Math.max(sinks, first.sinkTokens());
            types.add(SLIDING_ATTENTION);
            break;
          }
        default:
          throw new HeadwiseException(
              "Hugging Face layer_types has no '"
                  + first.kind()
                  + "' attention: layer "
                  + l
                  + " of plan "
                  + meta.planId()
                  + " cannot be written as full or sliding attention");
      }
    }
    List<String> warnings = new ArrayList<>();
    if (sinks > 0) {
      if (!options.dropSinks()) {
        throw new HeadwiseException(
            "plan "
                + meta.planId()
                + " keeps "
                + sinks
                + " attention-sink tokens per sliding"
                + " layer, which Hugging Face sliding attention cannot keep; a window without sinks is the failure case"
                + " of StreamingLLM, so it is not exported silently: pass --drop-sinks to turn the sinks into recent"
                + " tokens (window "
                + window
                + "), and evaluate that variant (a plan with sink_tokens=0)");
      }
      warnings.add(
          "--drop-sinks: the "
              + sinks
              + " sink tokens of plan "
              + meta.planId()
              + " become recent tokens"
              + " (sliding_window "
              + window
              + ", same KV memory); the exported variant is not the evaluated plan:"
              + " evaluate a plan with the same windows and sink_tokens=0 (e.g. plan --method "
              + meta.method()
              + " --option sink_tokens=0)");
    }
    int firstSliding = types.indexOf(SLIDING_ATTENTION);
    boolean suffix =
        firstSliding >= 0
            && types.subList(firstSliding, types.size()).stream()
                .allMatch(SLIDING_ATTENTION::equals);
    if (firstSliding >= 0 && !suffix) {
      warnings.add(
          String.format(
              Locale.ROOT,
              "%s configs from before layer_types existed slide every layer from"
                  + " max_window_layers = %d on; this plan's sliding layers are not such a suffix, so it needs a"
                  + " transformers version that reads layer_types",
              family,
              firstSliding));
    }
    Map<String, Object> json = new LinkedHashMap<>();
    json.put("layer_types", types);
    json.put("sliding_window", window);
    json.put("use_sliding_window", window != null);
    json.put("max_window_layers", firstSliding >= 0 ? firstSliding : grid.numLayers);
    json.put("headwise_plan_id", meta.planId());
    json.put("headwise_model_id", meta.modelId());
    json.put("headwise_model_type", family);
    if (sinks > 0) {
      json.put(
          "headwise_note",
          "--drop-sinks: the plan's "
              + sinks
              + " attention-sink tokens per sliding layer are"
              + " folded into sliding_window (same KV size, recent tokens instead); this variant was not the plan"
              + " evaluated");
    }
    PlanFormats.writeFiles(outputDir, Map.of(FILE, Json.fileBytes(json)));
    return warnings;
  }

  /**
   * Checks the family option before anything is read: the model_type, lower-cased, or a
   * HeadwiseException.
   */
  public static String family(FormatOptions options) {
    String type =
        options.hfModelType() == null
            ? null
            : options.hfModelType().trim().toLowerCase(Locale.ROOT);
    if (type == null || type.isEmpty()) {
      throw new HeadwiseException(
          "format hf needs the model's Hugging Face model_type (--hf-model-type, the"
              + " model_type of its config.json): layer_types only takes effect in families that read it, "
              + String.join(" or ", SUPPORTED_FAMILIES.stream().sorted().toList()));
    }
    if (IGNORING_FAMILIES.containsKey(type)) {
      throw new HeadwiseException(
          "model_type "
              + type
              + " ignores layer_types ("
              + IGNORING_FAMILIES.get(type)
              + "); a layer_types plan cannot be deployed on it through its config");
    }
    if (!SUPPORTED_FAMILIES.contains(type)) {
      throw new HeadwiseException(
          "model_type "
              + type
              + " is not known to read layer_types; supported: "
              + String.join(", ", SUPPORTED_FAMILIES.stream().sorted().toList()));
    }
    return type;
  }
}
