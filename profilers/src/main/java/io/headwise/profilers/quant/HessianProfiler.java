package io.headwise.profilers.quant;

import io.headwise.graph.AttentionMap;
import io.headwise.graph.OnnxModel;
import io.headwise.profilers.Batch;
import io.headwise.profilers.CalibrationSample;
import io.headwise.profilers.ExecutionProvider;
import io.headwise.profilers.ProbeKind;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * Captures Hessian sums over calibration samples: sorts them by length, pads each batch on the
 * right to its longest sample (padding weighs 0), runs the capture graph through the per-JVM {@link
 * HessianSessions} cache and adds the batch sums in double. Probe metadata of the samples is
 * ignored.
 */
public final class HessianProfiler {
  private final OnnxModel model;
  private final AttentionMap map;
  private final List<HessianGroup> groups;
  private final CaptureConfig config;
  private final ExecutionProvider ep;
  private final int threads;
  private final int batchSize;

  public HessianProfiler(
      OnnxModel model,
      AttentionMap map,
      List<HessianGroup> groups,
      CaptureConfig config,
      ExecutionProvider ep,
      int threads,
      int batchSize) {
    this.model = model;
    this.map = map;
    this.groups = List.copyOf(groups);
    this.config = config;
    this.ep = ep;
    this.threads = threads;
    this.batchSize = Math.max(1, batchSize);
  }

  /** The sums over {@code samples} (already validated against the model). */
  public HessianSums capture(List<CalibrationSample> samples) {
    List<CalibrationSample> plain = new ArrayList<>(samples.size());
    for (CalibrationSample s : samples) {
      plain.add(CalibrationSample.of(s.sampleId(), s.inputIds(), s.attentionMask(), s.source()));
    }
    plain.sort(
        Comparator.comparingInt(CalibrationSample::length)
            .reversed()
            .thenComparing(CalibrationSample::sampleId));
    HessianSums sums = HessianSums.of(groups);
    return HessianSessions.with(
        model,
        map,
        groups,
        config,
        ep,
        threads,
        session -> {
          for (int i = 0; i < plain.size(); i += batchSize) {
            List<CalibrationSample> chunk = plain.subList(i, Math.min(plain.size(), i + batchSize));
            session.run(Batch.pad(ProbeKind.PLAIN, chunk, chunk.get(0).length()), sums);
          }
          return sums;
        });
  }
}
