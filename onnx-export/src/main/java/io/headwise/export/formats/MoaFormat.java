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

/**
 * MoA's elastic-rule file {@code moa_alpha_beta.json}: {@code {"alphas": [[α per query head] per
 * layer], "betas": [...]}}, span α + β·N per head including its sink tokens. A streaming/elastic
 * row maps to α = sinkTokens + alpha, β = beta; a full row to α = 0, β = 1 (span exactly N at every
 * length, rather than α = max length, which would depend on the lengths planned for). Budget heads
 * (dynamic eviction) have no static span and are refused, naming the head; so are rows with
 * RazorAttention's compensation entry ({@code compensation_tokens}), which MoA's engine does not
 * have.
 *
 * <p>What MoA's serving code (thu-nics/MoA, {@code MoA/attention/cache_utils.py} {@code
 * moa_config_to_cache_config}, called from {@code LlamaModel_MixtureAttention_forward}) does with
 * the file, and so what this export assumes and checks — written to {@code
 * headwise_moa_export.json} with the plan's own numbers:
 *
 * <ul>
 *   <li>GQA → MHA: MoA's attention asserts {@code num_key_value_groups == 1}; grouped-query models
 *       are converted to MHA first ({@code gqa_to_mha.py}), so the file is per query head and the
 *       engine stores g caches per kv head. kv-head plans are expanded, query head h taking kv head
 *       ⌊h/g⌋ (same span for the group: the same fraction of a g-times larger cache).
 *   <li>Lengths: the cache of a head is sized once, at N = prompt length + {@code
 *       moa_max_new_token} (default 1024), as cache = ⌈max(min(⌊α + β·N⌋, N), 128) / 64⌉·64: at
 *       least 128 tokens ({@code minimum_cache_size}), rounded up to a multiple of 64, and the
 *       first min(cache, 64) of them are sinks ({@code sink_size=64}) whatever the plan's sink
 *       count.
 * </ul>
 *
 * The export computes that engine cache at each of the plan's target lengths (taken as N) and warns
 * when it keeps more tokens than the plan (minimum, rounding), when the plan's sink count differs
 * from 64, and when the model is grouped-query.
 */
public final class MoaFormat implements PlanFormat {
  public static final String NAME = "moa";
  public static final String FILE = "moa_alpha_beta.json";
  public static final String NOTES_FILE = "headwise_moa_export.json";

  /**
   * MoA's serving constants ({@code moa_config_to_cache_config} as called by its Llama forward).
   */
  static final int ENGINE_SINK_SIZE = 64;

  static final int ENGINE_MINIMUM_CACHE = 128;
  static final int ENGINE_SPLIT_SIZE = 64;
  static final int ENGINE_DEFAULT_MAX_NEW_TOKEN = 1024;

  @Override
  public String name() {
    return NAME;
  }

  @Override
  public List<String> write(
      PlanMeta meta, List<PlanRow> rows, Path outputDir, FormatOptions options) {
    PlanGrid grid = PlanGrid.of(meta, rows);
    grid.refuseCompensation(NAME);
    List<List<Double>> alphas = new ArrayList<>();
    List<List<Double>> betas = new ArrayList<>();
    int planSinks = -1;
    for (int l = 0; l < grid.numLayers; l++) {
      List<Double> a = new ArrayList<>();
      List<Double> b = new ArrayList<>();
      for (int h = 0; h < grid.numHeads; h++) {
        PlanRow r = grid.queryHead(l, h);
        switch (r.kind()) {
          case PlanRow.FULL:
            a.add(0.0);
            b.add(1.0);
            break;
          case PlanRow.STREAMING:
          case PlanRow.ELASTIC:
            a.add(r.sinkTokens() + r.alpha());
            b.add(r.beta());
            planSinks = Math.max(planSinks, r.sinkTokens());
            break;
          default:
            throw new HeadwiseException(
                "MoA rules are static spans alpha + beta*N, but layer "
                    + r.layer()
                    + ", head "
                    + r.head()
                    + " of plan "
                    + meta.planId()
                    + " is a '"
                    + r.kind()
                    + "' head (dynamic"
                    + " eviction); export it in another format");
        }
      }
      alphas.add(a);
      betas.add(b);
    }
    List<String> warnings = new ArrayList<>();
    Map<String, Object> engineFraction = new LinkedHashMap<>();
    for (int n : meta.targetLengths()) {
      double planKept = 0;
      double engineKept = 0;
      int grown = 0;
      for (int l = 0; l < grid.numLayers; l++) {
        for (int h = 0; h < grid.numHeads; h++) {
          double kept = grid.queryHead(l, h).keptTokens(n);
          int cache = engineCache(alphas.get(l).get(h), betas.get(l).get(h), n);
          planKept += kept;
          engineKept += cache;
          grown += cache > kept + 1e-9 ? 1 : 0;
        }
      }
      int heads = grid.numLayers * grid.numHeads;
      engineFraction.put(String.valueOf(n), engineKept / heads / n);
      if (grown > 0) {
        warnings.add(
            String.format(
                Locale.ROOT,
                "at N = %d MoA's engine allocates %d of %d head caches larger than"
                    + " planned (at least %d slots, rounded up to a multiple of %d): %.3f of the dense cache instead of the"
                    + " plan's %.3f",
                n,
                grown,
                heads,
                ENGINE_MINIMUM_CACHE,
                ENGINE_SPLIT_SIZE,
                engineKept / heads / n,
                planKept / heads / n));
      }
    }
    if (planSinks >= 0 && planSinks != ENGINE_SINK_SIZE) {
      warnings.add(
          "MoA's engine keeps the first "
              + ENGINE_SINK_SIZE
              + " tokens of every cache as sinks; plan "
              + meta.planId()
              + " was evaluated with "
              + planSinks
              + " sink tokens (same cache sizes, a different choice"
              + " of tokens)");
    }
    if (grid.groupSize() > 1) {
      warnings.add(
          "MoA's engine runs only multi-head attention (num_key_value_groups == 1): convert the model to"
              + " MHA (MoA's gqa_to_mha.py); it then stores "
              + grid.groupSize()
              + " caches per kv head"
              + (grid.isKvHeadGranular()
                  ? " (this kv-head plan gives the "
                      + grid.groupSize()
                      + " query heads of a group"
                      + " the same span)"
                  : ""));
    }
    Map<String, Object> json = new LinkedHashMap<>();
    json.put("alphas", alphas);
    json.put("betas", betas);
    Map<String, Object> notes = new LinkedHashMap<>();
    notes.put("plan_id", meta.planId());
    notes.put("model_id", meta.modelId());
    notes.put("method", meta.method());
    notes.put(
        "convention",
        "per query head, GQA converted to MHA (MoA's engine): query head h takes kv head"
            + " floor(h/g); g = "
            + grid.groupSize());
    notes.put(
        "engine_cache",
        "cache = ceil(max(min(floor(alpha + beta*N), N), "
            + ENGINE_MINIMUM_CACHE
            + ") / "
            + ENGINE_SPLIT_SIZE
            + ") * "
            + ENGINE_SPLIT_SIZE
            + ", first min(cache, "
            + ENGINE_SINK_SIZE
            + ") sinks, N ="
            + " prompt length + moa_max_new_token (default "
            + ENGINE_DEFAULT_MAX_NEW_TOKEN
            + ")");
    notes.put("plan_kv_fraction", stringKeys(meta.expectedKvFraction()));
    notes.put("engine_kv_fraction_at_target_lengths", engineFraction);
    notes.put("warnings", warnings);
    Map<String, byte[]> files = new LinkedHashMap<>();
    files.put(FILE, Json.fileBytes(json));
    files.put(NOTES_FILE, Json.fileBytes(notes));
    PlanFormats.writeFiles(outputDir, files);
    return warnings;
  }

  /** MoA's {@code moa_config_to_cache_config} for one head at N: tokens its cache holds. */
  static int engineCache(double alpha, double beta, int n) {
    int size = (int) (alpha + n * beta); // Python int() truncates toward zero
    size = Math.min(size, n);
    return (int) Math.ceil(Math.max(size, ENGINE_MINIMUM_CACHE) / (double) ENGINE_SPLIT_SIZE)
        * ENGINE_SPLIT_SIZE;
  }

  private static Map<String, Double> stringKeys(Map<Integer, Double> byLength) {
    Map<String, Double> out = new LinkedHashMap<>();
    byLength.forEach((n, f) -> out.put(String.valueOf(n), f));
    return out;
  }
}
