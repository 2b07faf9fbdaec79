package io.headwise.jobs.quantize;

import io.headwise.graph.ModelInputs;
import io.headwise.graph.ModelLimits;
import io.headwise.graph.OnnxModel;
import io.headwise.jobs.spark.CalibrationRows;
import io.headwise.jobs.spark.ModelRef;
import io.headwise.jobs.spark.ProfilePartition;
import io.headwise.profilers.Batch;
import io.headwise.profilers.CalibrationSample;
import io.headwise.profilers.ExecutionProvider;
import io.headwise.profilers.ProbeKind;
import io.headwise.profilers.SampleChecks;
import io.headwise.profilers.eval.ModelRunner;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.sql.Row;

/**
 * Runs the original and the quantized model ({@link ModelRunner}) on one partition of held-out
 * samples, in batches of equal length (nothing padded, probe metadata ignored), and returns the
 * partition's {@link QuantizeComparison}.
 */
public final class QuantizeEvalPartition implements MapPartitionsFunction<Row, QuantizeComparison> {
  private static final long serialVersionUID = 1L;

  private final ModelRef original;
  private final ModelRef quantized;
  private final ExecutionProvider ep;
  private final int threads;
  private final int batchSize;

  public QuantizeEvalPartition(
      ModelRef original, ModelRef quantized, ExecutionProvider ep, int threads, int batchSize) {
    this.original = original;
    this.quantized = quantized;
    this.ep = ep;
    this.threads = threads;
    this.batchSize = Math.max(1, batchSize);
  }

  @Override
  public Iterator<QuantizeComparison> call(Iterator<Row> rows) {
    List<CalibrationSample> samples = new ArrayList<>();
    rows.forEachRemaining(
        r -> {
          CalibrationSample s = CalibrationRows.fromRow(r);
          samples.add(
              CalibrationSample.of(s.sampleId(), s.inputIds(), s.attentionMask(), s.source()));
        });
    if (samples.isEmpty()) {
      return Collections.emptyIterator();
    }
    OnnxModel o = original.load().model();
    OnnxModel q = quantized.load().model();
    ModelLimits limits = ModelLimits.of(o.graph(), ModelInputs.of(o.graph()));
    List<CalibrationSample> checked = SampleChecks.validate(samples, limits, false);
    Map<Integer, List<CalibrationSample>> byLength = new TreeMap<>();
    for (CalibrationSample s : checked) {
      byLength.computeIfAbsent(s.length(), k -> new ArrayList<>()).add(s);
    }
    ExecutionProvider device = ProfilePartition.taskDevice(ep);
    QuantizeComparison cmp = new QuantizeComparison();
    try (ModelRunner ro = new ModelRunner(o, o.proto(), device, threads, limits.vocabSize());
        ModelRunner rq = new ModelRunner(q, q.proto(), device, threads, limits.vocabSize())) {
      for (List<CalibrationSample> same : byLength.values()) {
        for (int i = 0; i < same.size(); i += batchSize) {
          List<CalibrationSample> chunk = same.subList(i, Math.min(same.size(), i + batchSize));
          Batch batch = Batch.pad(ProbeKind.PLAIN, chunk, chunk.get(0).length());
          ModelRunner.Output a = ro.run(batch);
          ModelRunner.Output b = rq.run(batch);
          cmp.add(batch, a.values(), b.values(), a.lastDim(), a.logits());
        }
      }
    }
    return List.of(cmp).iterator();
  }
}
