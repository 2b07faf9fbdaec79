package io.headwise.jobs.quantize;

import io.headwise.graph.AttentionLocator;
import io.headwise.graph.AttentionMap;
import io.headwise.graph.OnnxModel;
import io.headwise.jobs.cli.OptionNames;
import io.headwise.jobs.spark.ModelRef;
import io.headwise.jobs.warehouse.Warehouse;
import io.headwise.profilers.quant.HessianGroup;
import io.headwise.profilers.quant.LinearLayer;
import io.headwise.profilers.quant.LinearLayers;
import io.headwise.schemas.HeadwiseException;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Locale;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.storage.StorageLevel;

/**
 * One execution of the quantize step, as a sequence of stages that each hand a value to the next:
 * calibration samples ({@link Calibration}), rotation ({@link QuantizeRotation}), capture and solve
 * ({@link QuantizeSolver}, into {@link QuantizedLinears}), staging ({@link QuantizeWriter#stage}),
 * the optional held-out evaluation, and the commit ({@link QuantizeWriter#commit}). It exists so
 * that {@link QuantizeJob} is only the command line, and so that what each stage computes is a
 * local value rather than a field some later stage may or may not have set.
 */
final class QuantizeRun {
  /**
   * The calibration samples, persisted for the passes that reread them, and the partitions they are
   * spread over.
   *
   * @param samples the samples of the run's model
   * @param parts Spark partitions: {@code --partitions} or the default parallelism, at most one per
   *     sample
   */
  record Calibration(Dataset<Row> samples, int parts) {}

  private final SparkSession spark;
  private final QuantizeRequest request;
  private final OnnxModel original;
  private final AttentionMap map;
  private final Instant started;
  private final QuantizeWorkDir workDir;
  private final Warehouse warehouse;

  QuantizeRun(
      SparkSession spark,
      Path warehouseRoot,
      QuantizeRequest request,
      OnnxModel original,
      AttentionMap map,
      Instant started,
      QuantizeWorkDir workDir) {
    this.spark = spark;
    this.request = request;
    this.original = original;
    this.map = map;
    this.started = started;
    this.workDir = workDir;
    this.warehouse = new Warehouse(spark, warehouseRoot);
  }

  /** Runs every stage; on any failure nothing is left in the warehouse or next to {@code --out}. */
  void run() {
    Calibration calibration = readCalibration();
    QuantizeRotation rotation =
        request.rotate()
            ? QuantizeRotation.rotate(
                original, map, calibration.samples(), request.seed(), request.truncate(), workDir)
            : QuantizeRotation.none(original);
    OnnxModel working = rotation.working();
    AttentionMap workingMap =
        working == original
            ? map
            : AttentionLocator.locate(working).requireAttention(working.source());
    List<LinearLayer> layers = LinearLayers.find(working.graph(), workingMap);
    if (layers.isEmpty()) {
      throw new HeadwiseException(
          "model "
              + original.source()
              + " has no linear layer (MatMul/Gemm with an"
              + " initializer weight) inside its transformer blocks to quantize");
    }
    List<HessianGroup> groups = LinearLayers.groups(layers);
    long t0 = System.nanoTime();
    QuantizedLinears linears =
        new QuantizeSolver(spark, request, calibration, workDir).solve(working, layers, groups);
    double seconds = (System.nanoTime() - t0) / 1e9;
    System.err.printf(
        Locale.ROOT,
        "headwise quantize: %s of %d linears done in %.1f s%n",
        request.spec().needsHessian() ? "capture and quantization" : "quantization",
        layers.size(),
        seconds);
    long t1 = System.nanoTime();
    String metadata =
        QuantizeRecords.metadata(request, original, rotation, layers.size()).toString();
    QuantizeWriter.StagedModel staged =
        QuantizeWriter.stage(request, working, layers, linears, metadata);
    try {
      long originalBytes = QuantizeWriter.modelBytes(original);
      long quantizedBytes = staged.files().bytes();
      System.err.printf(
          Locale.ROOT,
          "headwise quantize: MatMulNBits model staged in %.1f s%n",
          (System.nanoTime() - t1) / 1e9);
      QuantizeComparison comparison = null;
      if (request.evaluates()) {
        long t2 = System.nanoTime();
        comparison = evaluate(staged.model(), calibration.parts());
        System.err.printf(
            Locale.ROOT,
            "headwise quantize: evaluation done in %.1f s%n",
            (System.nanoTime() - t2) / 1e9);
      }
      QuantizeResult result =
          new QuantizeResult(
              request,
              original,
              rotation,
              layers,
              groups,
              linears,
              calibration.parts(),
              seconds,
              originalBytes,
              staged.files(),
              quantizedBytes,
              comparison);
      QuantizeWriter.commit(warehouse, result, started, spark.sparkContext().master());
      calibration.samples().unpersist();
      QuantizeRecords.printSummary(result);
    } finally {
      staged.files().discard();
    }
  }

  private Calibration readCalibration() {
    Dataset<Row> samples =
        QuantizeSamples.read(
            spark, request.calibration(), original.modelId(), OptionNames.CALIBRATION);
    samples.persist(StorageLevel.MEMORY_AND_DISK());
    long n = samples.count();
    if (n == 0) {
      throw new HeadwiseException(
          "the calibration sources hold no sample for model " + original.modelId());
    }
    int parts =
        (int)
            Math.max(
                1,
                Math.min(
                    request.partitions() > 0
                        ? request.partitions()
                        : spark.sparkContext().defaultParallelism(),
                    n));
    return new Calibration(samples, parts);
  }

  /** Compares the quantized model with the original on the held-out samples, on the executors. */
  private QuantizeComparison evaluate(OnnxModel quantized, int parts) {
    describe(spark, request.runId(), "evaluating on held-out samples");
    Dataset<Row> held =
        QuantizeSamples.read(
            spark, request.evalSamples(), original.modelId(), OptionNames.EVAL_SAMPLES);
    long n = held.count();
    if (n == 0) {
      throw new HeadwiseException("the --eval-samples sources hold no sample");
    }
    int evalParts = (int) Math.max(1, Math.min(parts, n));
    List<QuantizeComparison> partials =
        held.repartition(evalParts)
            .mapPartitions(
                new QuantizeEvalPartition(
                    ModelRef.of(spark, original, request.shipModel()),
                    ModelRef.of(spark, quantized, request.shipModel()),
                    request.provider(),
                    request.threads(),
                    request.batchSize()),
                Encoders.javaSerialization(QuantizeComparison.class))
            .collectAsList();
    QuantizeComparison comparison = new QuantizeComparison();
    partials.forEach(comparison::merge);
    return comparison;
  }

  /** Names the Spark jobs that follow in the Spark UI. */
  static void describe(SparkSession spark, String runId, String what) {
    spark.sparkContext().setJobDescription("headwise quantize " + runId + ": " + what);
  }
}
