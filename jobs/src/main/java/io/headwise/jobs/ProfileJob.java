package io.headwise.jobs;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.lit;
import static org.apache.spark.sql.functions.sum;
import static org.apache.spark.sql.functions.when;

import io.headwise.graph.AttentionLocator;
import io.headwise.graph.AttentionMap;
import io.headwise.graph.OnnxModel;
import io.headwise.graph.StatedPositions;
import io.headwise.jobs.cli.Cli;
import io.headwise.jobs.cli.ConfigOption;
import io.headwise.jobs.cli.ModelOption;
import io.headwise.jobs.cli.OptionNames;
import io.headwise.jobs.cli.PartitionsOption;
import io.headwise.jobs.cli.ShipModelOption;
import io.headwise.jobs.cli.StatsOptions;
import io.headwise.jobs.cli.WarehouseOptions;
import io.headwise.jobs.spark.CalibrationSources;
import io.headwise.jobs.spark.ModelRef;
import io.headwise.jobs.spark.ProfilePartition;
import io.headwise.jobs.spark.SparkErrors;
import io.headwise.jobs.spark.SparkSessions;
import io.headwise.jobs.warehouse.RunRecords;
import io.headwise.jobs.warehouse.Warehouse;
import io.headwise.profilers.AttentionTiling;
import io.headwise.profilers.ExecutionProvider;
import io.headwise.profilers.LengthBuckets;
import io.headwise.profilers.StatsConfig;
import io.headwise.schemas.HeadwiseException;
import io.headwise.schemas.Tables;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;
import org.apache.spark.storage.StorageLevel;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * The profile step ({@code headwise profile}; {@code spark-submit --class
 * io.headwise.jobs.ProfileJob}): buckets calibration samples by length, runs the instrumented graph
 * in Spark executors and writes {@code head_stats} and {@code token_importance} for one (model, run
 * id), replacing that run's rows only.
 */
@Command(
    name = "profile",
    mixinStandardHelpOptions = true,
    description =
        "Profile per-head attention statistics on Spark and write head_stats and token_importance.")
public final class ProfileJob implements Callable<Integer> {
  public static final String STEP = "profile";

  /** The run config key recording each length bucket's calibration sources (source → samples). */
  public static final String BUCKET_SOURCES = "bucket_sources";

  public static final String SENSITIVITY = "--sensitivity";
  public static final String SENSITIVITY_WINDOWS = "--sensitivity-windows";
  public static final String NO_LAYER_SENSITIVITY = "--no-layer-sensitivity";

  @Mixin ConfigOption config;

  @Mixin ModelOption model;

  @Option(
      names = OptionNames.CALIBRATION,
      paramLabel = "SRC",
      required = true,
      description =
          "Calibration samples: a JSONL file or a Delta/Parquet table with input_ids (repeatable).")
  List<String> calibration;

  @Option(
      names = OptionNames.RUN_ID,
      required = true,
      description = "Run id; rerunning it replaces its rows.")
  String runId;

  @Mixin WarehouseOptions warehouse;

  @Mixin StatsOptions stats;

  @Mixin PartitionsOption partitions;

  @Option(
      names = OptionNames.TRUNCATE,
      description = "Cut samples longer than the model accepts instead of failing.")
  boolean truncate;

  @Mixin ShipModelOption ship;

  @Option(
      names = SENSITIVITY,
      description =
          "Also measure output_kl_s{S}_w{w}: the model's output KL when one kv-head group is switched to"
              + " S sinks + w recent keys (decoders; one extra forward pass per layer, kv head and window).")
  boolean sensitivity;

  @Option(
      names = SENSITIVITY_WINDOWS,
      split = ",",
      paramLabel = "W,...",
      description =
          "Windows for --sensitivity (default: 1,4,16,64 and every eighth of the bucket length).")
  List<Integer> sensitivityWindows;

  @Option(
      names = NO_LAYER_SENSITIVITY,
      description =
          "Skip layer_output_kl_s{S}_w{w}, measured on decoders by default: the model's output KL when every head"
              + " of one layer is switched to S sinks + w recent keys, at w = a quarter and a half of each bucket"
              + " (one extra forward pass per layer and window). Planners scale stream deviation by it per layer.")
  boolean noLayerSensitivity;

  /** spark-submit entry point. */
  public static void main(String[] args) {
    System.exit(Cli.run(new ProfileJob(), args));
  }

  @Override
  public Integer call() {
    Instant started = Instant.now();
    OnnxModel m = model.load();
    AttentionMap map = AttentionLocator.locate(m).requireAttention(m.source());
    StatsConfig cfg = stats.toConfig();
    ExecutionProvider ep = stats.executionProvider();
    int batchSize = stats.batchSize();
    SparkSession spark = SparkSessions.get(warehouse.master, "headwise profile " + runId);
    try {
      return run(spark, m, map, cfg, ep, batchSize, started);
    } catch (RuntimeException e) {
      throw SparkErrors.unwrap(e);
    }
  }

  private int run(
      SparkSession spark,
      OnnxModel m,
      AttentionMap map,
      StatsConfig cfg,
      ExecutionProvider ep,
      int batchSize,
      Instant started) {
    if (sensitivity && !map.block(0).causal()) {
      throw new HeadwiseException(
          SENSITIVITY
              + " measures next-token distributions and needs a decoder; model "
              + m.source()
              + " is bidirectional");
    }
    // a next-token KL needs a decoder; encoders are profiled without it
    boolean layerSensitivity = !noLayerSensitivity && map.block(0).causal();
    Warehouse w = new Warehouse(spark, warehouse.warehouse);
    Dataset<Row> samples =
        CalibrationSources.read(spark, calibration, m.modelId())
            .withColumn("length_bucket", bucketOf(functions.size(col("input_ids"))));
    samples.persist(StorageLevel.MEMORY_AND_DISK());
    try {
      // samples per (bucket, source) in one pass: the buckets to profile, and which data each
      // bucket's statistics come from, so a plan can name the source of its evidence
      Map<Integer, Long> bucketCounts = new TreeMap<>();
      Map<String, Map<String, Long>> bucketSources = new TreeMap<>();
      for (Row r : samples.groupBy("length_bucket", "source").count().collectAsList()) {
        bucketCounts.merge(r.getInt(0), r.getLong(2), Long::sum);
        bucketSources
            .computeIfAbsent(String.valueOf(r.getInt(0)), b -> new TreeMap<>())
            .put(r.isNullAt(1) ? "unknown" : r.getString(1), r.getLong(2));
      }
      List<Map.Entry<Integer, Long>> buckets = List.copyOf(bucketCounts.entrySet());
      if (buckets.isEmpty()) {
        throw new HeadwiseException(
            "the calibration sources hold no sample for model " + m.modelId());
      }
      warnBeyondStatedPositions(m, samples);
      AttentionTiling tiling = stats.tiling();
      // resolved here so that a budget too small for a bucket fails before any task runs; recorded
      // in the run
      Map<String, Integer> queryBlocks = new LinkedHashMap<>();
      for (Map.Entry<Integer, Long> b : buckets) {
        queryBlocks.put(String.valueOf(b.getKey()), tiling.rowsFor(b.getKey(), batchSize, map));
      }
      ModelRef ref = ModelRef.of(spark, m, ship.shipModel);
      int parts = partitions.resolve(spark);
      List<Dataset<Row>> partials = new ArrayList<>();
      StringBuilder summary = new StringBuilder();
      for (int i = 0; i < buckets.size(); i++) {
        int bucket = buckets.get(i).getKey();
        long n = buckets.get(i).getValue();
        String what = "bucket " + bucket + " (" + n + " samples, " + map.numLayers() + " layers)";
        spark.sparkContext().setJobDescription("headwise profile " + runId + ": " + what);
        long t0 = System.nanoTime();
        Dataset<Row> partial =
            samples
                .filter(col("length_bucket").equalTo(bucket))
                .drop("length_bucket")
                .repartition((int) Math.max(1, Math.min(parts, n)))
                .mapPartitions(
                    new ProfilePartition(
                        ref,
                        cfg,
                        ep,
                        stats.threads(),
                        batchSize,
                        truncate,
                        bucket,
                        sensitivity
                            ? (sensitivityWindows == null ? List.of() : sensitivityWindows)
                            : null,
                        layerSensitivity,
                        tiling),
                    Encoders.row(ProfilePartition.SCHEMA));
        partial.persist(StorageLevel.MEMORY_AND_DISK());
        partial.count();
        partials.add(partial);
        System.err.printf(
            "headwise profile: %s done in %.1f s (%d/%d buckets)%n",
            what, (System.nanoTime() - t0) / 1e9, i + 1, buckets.size());
        summary.append(summary.length() == 0 ? "" : ", ").append(bucket).append(':').append(n);
      }
      Dataset<Row> all = partials.get(0);
      for (int i = 1; i < partials.size(); i++) {
        all = all.union(partials.get(i));
      }
      int group = map.block(0).groupSize();
      spark
          .sparkContext()
          .setJobDescription("headwise profile " + runId + ": merge and write tables");
      Dataset<Row> headStats =
          all.filter(col("record_type").equalTo("stat"))
              .groupBy("length_bucket", "layer", "head", "stat")
              .agg(
                  sum("sum").as("sum"),
                  sum("count").as("count"),
                  sum("denominator").as("denominator"))
              .filter(col("count").gt(0))
              .select(
                  lit(m.modelId()).as("model_id"),
                  lit(runId).as("run_id"),
                  col("layer"),
                  col("head"),
                  functions.floor(col("head").divide(group)).cast("int").as("kv_head"),
                  col("length_bucket"),
                  functions.round(col("count")).cast("long").as("n_queries"),
                  col("stat"),
                  when(col("denominator").isNull(), col("sum").divide(col("count")))
                      .otherwise(
                          when(col("denominator").gt(0), col("sum").divide(col("denominator")))
                              .otherwise(0.0))
                      .as("value"));
      Dataset<Row> importance =
          all.filter(col("record_type").equalTo("importance"))
              .select(
                  lit(m.modelId()).as("model_id"),
                  lit(runId).as("run_id"),
                  col("sample_id"),
                  col("layer"),
                  col("length_bucket"),
                  col("importance"));
      Map<String, String> keys = Map.of("model_id", m.modelId(), "run_id", runId);
      List<Warehouse.TableWrite> writes = new ArrayList<>();
      writes.add(new Warehouse.TableWrite(Tables.HEAD_STATS, headStats, keys));
      if (cfg.tokenImportance()) {
        writes.add(new Warehouse.TableWrite(Tables.TOKEN_IMPORTANCE, importance, keys));
      }
      Map<String, Object> conf = new LinkedHashMap<>();
      conf.put("model", model.model);
      conf.put("calibration", calibration);
      conf.put("stats", cfg);
      conf.put("ep", ep.toString());
      conf.put("batch_size", batchSize);
      conf.put("query_block", queryBlocks);
      conf.put(BUCKET_SOURCES, bucketSources);
      conf.put("tiled_layers", AttentionTiling.tiledLayers(m, map));
      if (tiling.queryBlock() == null) {
        conf.put("attention_memory_mb", tiling.budgetMb());
      }
      conf.put("partitions", parts);
      conf.put("sensitivity", sensitivity);
      conf.put("layer_sensitivity", layerSensitivity);
      conf.put("master", spark.sparkContext().master());
      Map<String, Long> counts = new LinkedHashMap<>();
      for (Warehouse.TableWrite tw : writes) {
        counts.put(tw.table().name(), tw.rows().count());
      }
      writes.add(
          RunRecords.write(
              w,
              runId,
              STEP,
              m.modelId(),
              m.source(),
              started,
              conf,
              counts,
              "buckets " + summary));
      w.commit(writes, "headwise profile run " + runId);
      System.err.printf("headwise profile: wrote %s under %s%n", counts, w.root());
      partials.forEach(Dataset::unpersist);
      return 0;
    } finally {
      samples.unpersist();
    }
  }

  /**
   * Warns when samples run past the positions the model states it was built for ({@link
   * StatedPositions}); positions count valid tokens, as the statistics do.
   */
  static void warnBeyondStatedPositions(OnnxModel m, Dataset<Row> samples) {
    Optional<StatedPositions> stated = StatedPositions.of(m);
    if (stated.isEmpty()) {
      return;
    }
    long limit = stated.get().positions();
    Row r =
        samples
            .select(
                functions
                    .expr(
                        "coalesce(aggregate(attention_mask, 0, (a, x) -> a + x), size(input_ids))")
                    .as("valid"))
            .agg(
                functions.max("valid"),
                functions.count(functions.when(col("valid").gt(limit), lit(1))))
            .first();
    if (!r.isNullAt(0)) {
      stated
          .get()
          .warning(m.source(), ((Number) r.get(0)).longValue(), r.getLong(1))
          .ifPresent(System.err::println);
    }
  }

  /** The length bucket of a length column: the smallest power of two ≥ max(length, 16). */
  static Column bucketOf(Column length) {
    Column c = lit(LengthBuckets.bucketOf(1 << 24));
    for (int b = 1 << 23; b >= LengthBuckets.MIN_BUCKET; b >>= 1) {
      c = when(length.leq(b), lit(b)).otherwise(c);
    }
    return c;
  }
}
