package io.headwise.jobs.quantize;

import io.headwise.jobs.spark.ModelRef;
import io.headwise.jobs.spark.ProfilePartition;
import io.headwise.jobs.spark.TaskSamples;
import io.headwise.profilers.CalibrationSample;
import io.headwise.profilers.ExecutionProvider;
import io.headwise.profilers.quant.CaptureConfig;
import io.headwise.profilers.quant.HessianGroup;
import io.headwise.profilers.quant.HessianProfiler;
import io.headwise.profilers.quant.HessianSums;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.Optional;
import org.apache.spark.api.java.function.PairFlatMapFunction;
import org.apache.spark.sql.Row;
import scala.Tuple2;

/**
 * Captures Hessian sums over one partition of calibration samples on the executor (in-graph,
 * through the per-JVM session cache, on the task's GPU when it has one) and emits them in double as
 * ((group, chunk), values) pairs of at most {@link #CHUNK} values, plus one {@link #COUNTS} pair
 * with the partition's tokens and sequences. The pairs of all partitions are then summed per key.
 */
public final class QuantizeCapturePartition
    implements PairFlatMapFunction<Iterator<Row>, Tuple2<Integer, Integer>, double[]> {
  private static final long serialVersionUID = 1L;

  /**
   * Values per output row (8 MiB of doubles), so that a 14336² Hessian never travels as one record.
   */
  public static final int CHUNK = 1 << 20;

  /** Group id of the row holding {@code [tokens, sequences]}. */
  public static final int COUNTS = -1;

  private final ModelRef model;
  private final List<HessianGroup> groups;
  private final CaptureConfig config;
  private final ExecutionProvider ep;
  private final int threads;
  private final int batchSize;
  private final boolean truncate;

  public QuantizeCapturePartition(
      ModelRef model,
      List<HessianGroup> groups,
      CaptureConfig config,
      ExecutionProvider ep,
      int threads,
      int batchSize,
      boolean truncate) {
    this.model = model;
    this.groups = List.copyOf(groups);
    this.config = config;
    this.ep = ep;
    this.threads = threads;
    this.batchSize = batchSize;
    this.truncate = truncate;
  }

  @Override
  public Iterator<Tuple2<Tuple2<Integer, Integer>, double[]>> call(Iterator<Row> rows) {
    Optional<TaskSamples> task = TaskSamples.read(rows, model, truncate);
    if (task.isEmpty()) {
      return Collections.emptyIterator();
    }
    ModelRef.Loaded loaded = task.get().loaded();
    List<CalibrationSample> checked = task.get().samples();
    HessianSums sums =
        new HessianProfiler(
                loaded.model(),
                loaded.map(),
                groups,
                config,
                ProfilePartition.taskDevice(ep),
                threads,
                batchSize)
            .capture(checked);
    List<Tuple2<Tuple2<Integer, Integer>, double[]>> out = new ArrayList<>();
    for (int g = 0; g < groups.size(); g++) {
      double[] s = sums.sum(g);
      int id = groups.get(g).id();
      for (int c = 0; c * CHUNK < s.length; c++) {
        out.add(row(id, c, Arrays.copyOfRange(s, c * CHUNK, Math.min(s.length, (c + 1) * CHUNK))));
      }
    }
    out.add(row(COUNTS, 0, new double[] {sums.tokens(), sums.sequences()}));
    return out.iterator();
  }

  private static Tuple2<Tuple2<Integer, Integer>, double[]> row(
      int group, int chunk, double[] values) {
    return new Tuple2<>(new Tuple2<>(group, chunk), values);
  }
}
