package io.headwise.profilers;

import io.headwise.graph.AttentionMap;
import io.headwise.graph.OnnxModel;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Profiles samples of one length bucket: groups them by probe kind, pads batches to the bucket
 * length, runs the instrumented graph (attention query-tiled as {@link AttentionTiling} decides)
 * through the per-JVM {@link SessionCache}, and returns mergeable partial sums; per-token
 * importance goes to a consumer as it is produced.
 */
public final class SampleProfiler {
  private final OnnxModel model;
  private final AttentionMap map;
  private final StatsConfig config;
  private final ExecutionProvider ep;
  private final int threads;
  private final int batchSize;
  private final AttentionTiling tiling;

  /** A profiler with the default attention tiling. */
  public SampleProfiler(
      OnnxModel model,
      AttentionMap map,
      StatsConfig config,
      ExecutionProvider ep,
      int threads,
      int batchSize) {
    this(model, map, config, ep, threads, batchSize, AttentionTiling.defaults());
  }

  public SampleProfiler(
      OnnxModel model,
      AttentionMap map,
      StatsConfig config,
      ExecutionProvider ep,
      int threads,
      int batchSize,
      AttentionTiling tiling) {
    this.tiling = tiling;
    this.model = model;
    this.map = map;
    this.config = config;
    this.ep = ep;
    this.threads = threads;
    this.batchSize = Math.max(1, batchSize);
  }

  /**
   * Profiles {@code samples} (each at most {@code bucket} tokens long) padded to {@code bucket}.
   */
  public StatsAccumulator profile(
      int bucket, List<CalibrationSample> samples, Consumer<TokenImportance> importance) {
    Map<ProbeKind, List<CalibrationSample>> byKind = new EnumMap<>(ProbeKind.class);
    for (CalibrationSample s : samples) {
      byKind.computeIfAbsent(s.kind(), k -> new ArrayList<>()).add(s);
    }
    StatsAccumulator acc = new StatsAccumulator();
    int queryBlock = tiling.rowsFor(bucket, batchSize, map);
    for (Map.Entry<ProbeKind, List<CalibrationSample>> e : byKind.entrySet()) {
      StatsSession session =
          SessionCache.stats(model, map, config, e.getKey(), bucket, queryBlock, ep, threads);
      List<CalibrationSample> list = e.getValue();
      for (int i = 0; i < list.size(); i += batchSize) {
        Batch batch =
            Batch.pad(e.getKey(), list.subList(i, Math.min(list.size(), i + batchSize)), bucket);
        BatchStats stats = session.run(batch);
        acc.add(bucket, stats);
        if (importance != null) {
          emitImportance(batch, stats, importance);
        }
      }
    }
    return acc;
  }

  private static void emitImportance(
      Batch batch, BatchStats stats, Consumer<TokenImportance> sink) {
    for (int layer = 0; layer < stats.importance().size(); layer++) {
      float[][] m = stats.importance().get(layer);
      for (int b = 0; b < batch.size(); b++) {
        int valid = 0;
        for (long x : batch.mask()[b]) {
          valid += x != 0 ? 1 : 0;
        }
        float[] v = new float[valid];
        int k = 0;
        for (int t = 0; t < batch.length(); t++) {
          if (batch.mask()[b][t] != 0) {
            v[k++] = m[b][t];
          }
        }
        sink.accept(new TokenImportance(batch.samples().get(b).sampleId(), layer, v));
      }
    }
  }
}
