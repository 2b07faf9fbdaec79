package io.headwise.export.formats;

import com.fasterxml.jackson.databind.JsonNode;
import io.headwise.schemas.HeadwiseException;
import io.headwise.schemas.Json;
import io.headwise.schemas.PlanMeta;
import io.headwise.schemas.PlanRow;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * DuoAttention's pattern files, as its loader reads them (mit-han-lab/duo-attention {@code
 * duo_attn/utils.py}: {@code load_attn_pattern} reads {@code full_attention_heads.tsv} with {@code
 * np.loadtxt}, clips it to [0, 1] and takes {@code sink_size}/{@code recent_size} from {@code
 * config.json}; {@code sparsify_attention_heads} adds U(0, 1e-6) noise, sets τ = {@code
 * np.quantile(gates, sparsity)} and keeps heads with gate ≥ τ full).
 *
 * <p>{@code full_attention_heads.tsv}: one line per layer, one tab-separated gate per kv head. The
 * gates are the plan's ranking mapped into [0, 1]: the k streaming kv heads get 0.5·i/k (i = 0 …
 * k−1, least important first) and the m full heads 0.5 + 0.5·(j+1)/m, so every full head is above
 * every streaming one, distinct heads are at least 0.5/max(k, m) apart (far above Duo's
 * tie-breaking noise) and ties never occur. Within each class heads are ordered by the plan's
 * per-head {@code score} param (DuoAttention's planner writes one; query-head plans take the max
 * over the group) and by (layer, kv head) when the plan has none. Query-head plans are aggregated
 * with max over the group: a group with any full query head is full.
 *
 * <p>{@code config.json}: {@code sink_size}, {@code recent_size}, {@code sparsity} = k / (layers·kv
 * heads) — the {@code --sparsity} that reproduces the plan with Duo's loader; a smaller sparsity
 * keeps more heads full, following the plan's ranking — plus {@code threshold} 0.5 (the gate that
 * separates the two classes), plan id, model id, method, expected KV fraction and {@code ranking}
 * (what ordered the gates). Pass {@code --sparsity}: Duo's {@code sparsify_attention_heads}
 * (mit-han-lab/duo-attention 03dca84) compares {@code sparsity >= 1} even when only a threshold is
 * given, which raises a TypeError in Python 3, so {@code --threshold} alone does not load there.
 * Duo's evaluation scripts override the config's sizes when given {@code --sink_size}/{@code
 * --recent_size}: pass neither, or the same values.
 *
 * <p>Duo has one sink size and one recent window for all streaming heads, so every non-full head
 * must be {@code streaming}/{@code elastic} with beta = 0 and the same sink tokens and window
 * (alpha); budget heads, windows that grow with N and mixed windows are refused, naming the head. A
 * plan without streaming heads writes sink_size = recent_size = 0. Plans with RazorAttention's
 * compensation entry ({@code compensation_tokens} in a row's params) are refused: Duo's streaming
 * heads have no such entry (plan with {@code compensation=none} to export).
 */
public final class DuoAttentionFormat implements PlanFormat {
  public static final String NAME = "duo";
  public static final String PATTERN_FILE = "full_attention_heads.tsv";
  public static final String CONFIG_FILE = "config.json";

  /** Row params key of the planner's per-head score, which orders the gates. */
  static final String SCORE_PARAM = "score";

  /**
   * Gate separating full (above) from streaming (below) heads (a loader that thresholds the gates
   * at 0.5 gets the plan; Duo's own needs {@code --sparsity}, see the class doc).
   */
  public static final double THRESHOLD = 0.5;

  @Override
  public String name() {
    return NAME;
  }

  /**
   * One kv head: whether the plan keeps it full and the planner's score (NaN when the plan has
   * none).
   */
  private record KvHead(int layer, int kvHead, boolean full, double score) {}

  @Override
  public List<String> write(
      PlanMeta meta, List<PlanRow> rows, Path outputDir, FormatOptions options) {
    PlanGrid grid = PlanGrid.of(meta, rows);
    grid.refuseCompensation(NAME);
    PlanRow streamingExample = null;
    List<KvHead> heads = new ArrayList<>();
    boolean scored = true;
    for (int l = 0; l < grid.numLayers; l++) {
      for (int k = 0; k < grid.numKvHeads; k++) {
        boolean full = false;
        double score = Double.NEGATIVE_INFINITY;
        for (PlanRow r : grid.kvGroup(l, k)) {
          full |= PlanRow.FULL.equals(r.kind());
          score = Math.max(score, score(r));
        }
        scored &= !Double.isNaN(score) && score != Double.NEGATIVE_INFINITY;
        if (!full) {
          for (PlanRow r : grid.kvGroup(l, k)) {
            check(r);
            if (streamingExample == null) {
              streamingExample = r;
            } else if (r.sinkTokens() != streamingExample.sinkTokens()
                || r.alpha() != streamingExample.alpha()) {
              throw new HeadwiseException(
                  "DuoAttention has one sink size and recent window for all streaming heads,"
                      + " but plan "
                      + meta.planId()
                      + " gives layer "
                      + r.layer()
                      + ", head "
                      + r.head()
                      + " "
                      + r.sinkTokens()
                      + " sinks + "
                      + r.alpha()
                      + " recent and layer "
                      + streamingExample.layer()
                      + ", head "
                      + streamingExample.head()
                      + " "
                      + streamingExample.sinkTokens()
                      + " + "
                      + streamingExample.alpha());
            }
          }
        }
        heads.add(new KvHead(l, k, full, score));
      }
    }
    double[][] gates = gates(heads, scored, grid.numLayers, grid.numKvHeads);
    StringBuilder tsv = new StringBuilder();
    for (double[] layer : gates) {
      for (int k = 0; k < layer.length; k++) {
        tsv.append(k == 0 ? "" : "\t").append(String.format(Locale.ROOT, "%.9f", layer[k]));
      }
      tsv.append('\n');
    }
    long streaming = heads.stream().filter(h -> !h.full()).count();
    Map<String, Object> config = new LinkedHashMap<>();
    config.put("sink_size", streamingExample == null ? 0 : streamingExample.sinkTokens());
    config.put(
        "recent_size", streamingExample == null ? 0 : (int) Math.round(streamingExample.alpha()));
    config.put("sparsity", (double) streaming / heads.size());
    config.put("threshold", THRESHOLD);
    config.put("plan_id", meta.planId());
    config.put("model_id", meta.modelId());
    config.put("method", meta.method());
    config.put(
        "ranking",
        scored
            ? "gates rank the kv heads by the plan's per-head score (max over a group's query heads), full heads above"
                + " 0.5 and streaming heads below"
            : "the plan has no per-head score: full heads above 0.5, streaming below, each class in (layer, kv head)"
                + " order");
    config.put(
        "duo_loader",
        "load_attn_pattern(dir) then sparsify_attention_heads(gates, sparsity="
            + streaming
            + "/"
            + heads.size()
            + ") (--sparsity in Duo's scripts) keeps exactly the plan's full heads; Duo's"
            + " sparsify_attention_heads fails without a sparsity (it compares sparsity >= 1 also when only a"
            + " threshold is given); do not override sink_size/recent_size");
    Map<String, Double> expected = new LinkedHashMap<>();
    meta.expectedKvFraction().forEach((n, f) -> expected.put(String.valueOf(n), f));
    config.put("expected_kv_fraction", expected);
    Map<String, byte[]> files = new LinkedHashMap<>();
    files.put(PATTERN_FILE, tsv.toString().getBytes(StandardCharsets.UTF_8));
    files.put(CONFIG_FILE, Json.fileBytes(config));
    PlanFormats.writeFiles(outputDir, files);
    return List.of();
  }

  /**
   * Gates in [0, 1]: streaming heads in [0, 0.5), full heads in (0.5, 1], each class in the plan's
   * order.
   */
  static double[][] gates(List<KvHead> heads, boolean scored, int layers, int kvHeads) {
    Comparator<KvHead> order = scored ? Comparator.comparingDouble(KvHead::score) : (a, b) -> 0;
    // ties (and unscored plans): the later head in (layer, kv head) order ranks lower, as the
    // planner breaks ties
    // towards the lower layer
    order =
        order.thenComparing(
            Comparator.comparingInt((KvHead h) -> h.layer() * kvHeads + h.kvHead()).reversed());
    List<KvHead> streaming = heads.stream().filter(h -> !h.full()).sorted(order).toList();
    List<KvHead> full = heads.stream().filter(KvHead::full).sorted(order).toList();
    double[][] gates = new double[layers][kvHeads];
    for (int i = 0; i < streaming.size(); i++) {
      KvHead h = streaming.get(i);
      gates[h.layer()][h.kvHead()] = THRESHOLD * i / streaming.size();
    }
    for (int j = 0; j < full.size(); j++) {
      KvHead h = full.get(j);
      gates[h.layer()][h.kvHead()] = THRESHOLD + (1 - THRESHOLD) * (j + 1) / full.size();
    }
    return gates;
  }

  /** The row's {@code score} param, NaN when it has none. */
  private static double score(PlanRow r) {
    try {
      JsonNode node = r.paramsJson() == null ? null : Json.MAPPER.readTree(r.paramsJson());
      JsonNode score = node == null ? null : node.get(SCORE_PARAM);
      return score != null && score.isNumber() ? score.asDouble() : Double.NaN;
    } catch (IOException e) {
      return Double.NaN;
    }
  }

  private static void check(PlanRow r) {
    boolean span = PlanRow.STREAMING.equals(r.kind()) || PlanRow.ELASTIC.equals(r.kind());
    if (!span || r.beta() != 0.0) {
      throw new HeadwiseException(
          "DuoAttention streaming heads keep sinks plus a fixed recent window, but layer "
              + r.layer()
              + ", head "
              + r.head()
              + " of plan "
              + r.planId()
              + " is '"
              + r.kind()
              + "'"
              + (span ? " with a window growing with N (beta=" + r.beta() + ")" : "")
              + "; export it in another format");
    }
  }
}
