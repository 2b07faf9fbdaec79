package io.headwise.export.formats;

import io.headwise.schemas.HeadwiseException;
import io.headwise.schemas.PlanMeta;
import io.headwise.schemas.PlanRow;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * DuoAttention's pattern files: {@code full_attention_heads.tsv} — one line per layer, one tab-separated value per kv
 * head, 1 for a full (retrieval) head and 0 for a streaming one (query-head plans are aggregated with max over the
 * group: a group with any full query head is full) — and {@code config.json} with {@code sink_size},
 * {@code recent_size}, the plan id, model id, method, sparsity (share of streaming kv heads) and expected KV fraction.
 *
 * <p>Duo has one sink size and one recent window for all streaming heads, so every non-full head must be
 * {@code streaming}/{@code elastic} with beta = 0 and the same sink tokens and window (alpha); budget heads, windows
 * that grow with N and mixed windows are refused, naming the head. A plan without streaming heads writes
 * sink_size = recent_size = 0.
 */
public final class DuoAttentionFormat implements PlanFormat {
  public static final String NAME = "duo";
  public static final String PATTERN_FILE = "full_attention_heads.tsv";
  public static final String CONFIG_FILE = "config.json";

  @Override
  public String name() {
    return NAME;
  }

  @Override
  public void write(PlanMeta meta, List<PlanRow> rows, Path outputDir) {
    PlanGrid grid = PlanGrid.of(meta, rows);
    StringBuilder tsv = new StringBuilder();
    PlanRow streamingExample = null;
    int streaming = 0;
    for (int l = 0; l < grid.numLayers; l++) {
      for (int k = 0; k < grid.numKvHeads; k++) {
        boolean full = false;
        for (PlanRow r : grid.kvGroup(l, k)) {
          full |= PlanRow.FULL.equals(r.kind());
        }
        if (!full) {
          streaming++;
          for (PlanRow r : grid.kvGroup(l, k)) {
            check(r);
            if (streamingExample == null) {
              streamingExample = r;
            } else if (r.sinkTokens() != streamingExample.sinkTokens() || r.alpha() != streamingExample.alpha()) {
              throw new HeadwiseException("DuoAttention has one sink size and recent window for all streaming heads,"
                  + " but plan " + meta.planId() + " gives layer " + r.layer() + ", head " + r.head() + " "
                  + r.sinkTokens() + " sinks + " + r.alpha() + " recent and layer " + streamingExample.layer()
                  + ", head " + streamingExample.head() + " " + streamingExample.sinkTokens() + " + "
                  + streamingExample.alpha());
            }
          }
        }
        tsv.append(k == 0 ? "" : "\t").append(full ? "1" : "0");
      }
      tsv.append('\n');
    }
    Map<String, Object> config = new LinkedHashMap<>();
    config.put("sink_size", streamingExample == null ? 0 : streamingExample.sinkTokens());
    config.put("recent_size", streamingExample == null ? 0 : (int) Math.round(streamingExample.alpha()));
    config.put("plan_id", meta.planId());
    config.put("model_id", meta.modelId());
    config.put("method", meta.method());
    config.put("sparsity", (double) streaming / (grid.numLayers * grid.numKvHeads));
    Map<String, Double> expected = new LinkedHashMap<>();
    meta.expectedKvFraction().forEach((n, f) -> expected.put(String.valueOf(n), f));
    config.put("expected_kv_fraction", expected);
    Map<String, byte[]> files = new LinkedHashMap<>();
    files.put(PATTERN_FILE, tsv.toString().getBytes(StandardCharsets.UTF_8));
    files.put(CONFIG_FILE, Json.bytes(config));
    AtomicOutput.write(outputDir, files);
  }

  private static void check(PlanRow r) {
    boolean span = PlanRow.STREAMING.equals(r.kind()) || PlanRow.ELASTIC.equals(r.kind());
    if (!span || r.beta() != 0.0) {
      throw new HeadwiseException("DuoAttention streaming heads keep sinks plus a fixed recent window, but layer "
          + r.layer() + ", head " + r.head() + " of plan " + r.planId() + " is '" + r.kind() + "'"
          + (span ? " with a window growing with N (beta=" + r.beta() + ")" : "") + "; export it in another format");
    }
  }
}
