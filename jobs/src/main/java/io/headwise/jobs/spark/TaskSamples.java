package io.headwise.jobs.spark;

import io.headwise.graph.ModelInputs;
import io.headwise.graph.ModelLimits;
import io.headwise.profilers.CalibrationSample;
import io.headwise.profilers.SampleChecks;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Optional;
import org.apache.spark.sql.Row;

/**
 * The samples of one Spark partition, read from their rows and checked against the model the task
 * loaded: the opening every per-partition task (profile, evaluate, quantize capture) shares, so
 * that they all refuse or cut the same samples the same way.
 *
 * @param loaded the model, loaded once per executor ({@link ModelRef#load})
 * @param limits what the model accepts (vocabulary, positions)
 * @param samples the partition's samples after {@link SampleChecks#validate}
 */
public record TaskSamples(
    ModelRef.Loaded loaded, ModelLimits limits, List<CalibrationSample> samples) {

  /**
   * The partition's samples checked against {@code model}; empty, without loading the model, when
   * the partition has no rows.
   */
  public static Optional<TaskSamples> read(Iterator<Row> rows, ModelRef model, boolean truncate) {
    List<CalibrationSample> samples = new ArrayList<>();
    rows.forEachRemaining(r -> samples.add(CalibrationRows.fromRow(r)));
    if (samples.isEmpty()) {
      return Optional.empty();
    }
    ModelRef.Loaded loaded = model.load();
    ModelLimits limits =
        ModelLimits.of(loaded.model().graph(), ModelInputs.of(loaded.model().graph()));
    return Optional.of(
        new TaskSamples(loaded, limits, SampleChecks.validate(samples, limits, truncate)));
  }
}
