package io.headwise.jobs.quantize;

import io.headwise.export.quant.QuantizedLinear;
import io.headwise.jobs.spark.ModelRef;
import io.headwise.profilers.ExecutionProvider;
import io.headwise.profilers.quant.HessianGroup;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.storage.StorageLevel;
import scala.Tuple2;

/**
 * One capture-and-quantize pass on Spark over some Hessian groups of a model:
 *
 * <ol>
 *   <li>calibration partitions capture their Hessian sums in-graph ({@link
 *       QuantizeCapturePartition}) and emit them in double chunks;
 *   <li>chunks are summed per (group, chunk) with {@code reduceByKey} (plain double addition:
 *       partitions add up exactly, up to the order of additions);
 *   <li>each group's chunks meet in one task ({@code groupByKey}, one partition per group), which
 *       assembles the K×K sum and quantizes the group's linears there ({@link QuantizeGroupTask}).
 * </ol>
 *
 * Quantization is distributed per group rather than run in the driver because GPTQ is independent
 * across groups and costs O(K³ + N·K²) each (seconds to minutes for 4096–14336-wide layers), and
 * because Hessians are the largest data of the step (K² doubles, 1.6 GB for a 14336-wide
 * down_proj): they stay on the executors, and only packed 3/4/8-bit codes reach the driver. RTN
 * needs no Hessian and quantizes the groups directly.
 */
public final class QuantizeLayers {
  /**
   * What a pass produced: the quantized linears and the tokens and sequences the Hessians cover.
   */
  public record Pass(List<QuantizedLinear> layers, long tokens, long sequences) {}

  private QuantizeLayers() {}

  /**
   * Captures (unless RTN) and quantizes {@code subset} (groups of {@code groups}, the model's full
   * list) of the model behind {@code model}.
   */
  public static Pass run(
      SparkSession spark,
      Dataset<Row> samples,
      int partitions,
      ModelRef model,
      List<HessianGroup> groups,
      List<HessianGroup> subset,
      QuantizeSpec spec,
      ExecutionProvider ep,
      int threads,
      int batchSize,
      boolean truncate) {
    JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
    QuantizeGroupTask task = new QuantizeGroupTask(model, groups, spec);
    List<Integer> ids = new ArrayList<>();
    for (HessianGroup g : subset) {
      ids.add(g.id());
    }
    int groupParts = Math.max(1, ids.size());
    if (!spec.needsHessian()) {
      List<QuantizedLinear> out =
          jsc.parallelize(ids, groupParts)
              .flatMap(id -> task.quantize(id, null).iterator())
              .collect();
      return new Pass(out, 0, 0);
    }
    JavaPairRDD<Tuple2<Integer, Integer>, double[]> sums =
        samples
            .repartition(partitions)
            .javaRDD()
            .mapPartitionsToPair(
                new QuantizeCapturePartition(
                    model, subset, spec.capture(), ep, threads, batchSize, truncate))
            .reduceByKey(QuantizeLayers::add)
            // Disk, not memory: the summed Hessians are read twice (counts, then groups), and a
            // cached copy would sit on the heap next to the copies GPTQ itself needs (1.6 GB per
            // 14336-input group).
            .persist(StorageLevel.DISK_ONLY());
    try {
      long tokens = 0;
      long sequences = 0;
      for (Tuple2<Tuple2<Integer, Integer>, double[]> c :
          sums.filter(kv -> kv._1()._1() == QuantizeCapturePartition.COUNTS).collect()) {
        tokens += Math.round(c._2()[0]);
        sequences += Math.round(c._2()[1]);
      }
      List<QuantizedLinear> out =
          sums.filter(kv -> kv._1()._1() >= 0)
              .mapToPair(kv -> new Tuple2<>(kv._1()._1(), new Tuple2<>(kv._1()._2(), kv._2())))
              .groupByKey(groupParts)
              .flatMap(g -> task.quantize(g._1(), assemble(g._2(), task, g._1())).iterator())
              .collect();
      return new Pass(out, tokens, sequences);
    } finally {
      sums.unpersist(false);
    }
  }

  private static double[] add(double[] a, double[] b) {
    double[] out = a.clone();
    for (int i = 0; i < out.length; i++) {
      out[i] += b[i];
    }
    return out;
  }

  /**
   * The group's K×K Hessian sum as rows, symmetrised in place ((H + Hᵀ)/2): one copy of the K²
   * values besides the chunks, and no single K²-long array (1.6 GB at K = 14336, which a heap may
   * have no contiguous room for).
   */
  private static double[][] assemble(
      Iterable<Tuple2<Integer, double[]>> chunks, QuantizeGroupTask task, int group) {
    int k = task.inFeatures(group);
    double[][] h = new double[k][k];
    for (Tuple2<Integer, double[]> c : chunks) {
      long start = (long) c._1() * QuantizeCapturePartition.CHUNK;
      double[] values = c._2();
      for (int i = 0; i < values.length; ) {
        long flat = start + i;
        int row = (int) (flat / k);
        int col = (int) (flat % k);
        int n = Math.min(values.length - i, k - col);
        System.arraycopy(values, i, h[row], col, n);
        i += n;
      }
    }
    for (int i = 0; i < k; i++) {
      for (int j = i + 1; j < k; j++) {
        double v = 0.5 * (h[i][j] + h[j][i]);
        h[i][j] = v;
        h[j][i] = v;
      }
    }
    return h;
  }
}
