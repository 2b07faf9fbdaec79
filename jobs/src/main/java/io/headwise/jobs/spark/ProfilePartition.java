package io.headwise.jobs.spark;

import io.headwise.profilers.AttentionTiling;
import io.headwise.profilers.CalibrationSample;
import io.headwise.profilers.ExecutionProvider;
import io.headwise.profilers.SampleProfiler;
import io.headwise.profilers.SensitivityProfiler;
import io.headwise.profilers.StatsAccumulator;
import io.headwise.profilers.StatsConfig;
import io.headwise.profilers.TokenImportance;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.resource.ResourceInformation;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

/**
 * Profiles one partition of samples of one length bucket on the executor: validates them against
 * the model, runs the instrumented graph through the per-JVM session cache (on the task's GPU when
 * it has one) and emits partial sums per head and statistic, plus per-sample token importance rows.
 */
public final class ProfilePartition implements MapPartitionsFunction<Row, Row> {
  private static final long serialVersionUID = 1L;

  /** Output rows: {@code stat} partial sums or {@code importance} vectors. */
  public static final StructType SCHEMA =
      new StructType()
          .add("record_type", DataTypes.StringType, false)
          .add("length_bucket", DataTypes.IntegerType, false)
          .add("layer", DataTypes.IntegerType, false)
          .add("head", DataTypes.IntegerType, true)
          .add("stat", DataTypes.StringType, true)
          .add("sum", DataTypes.DoubleType, true)
          .add("count", DataTypes.DoubleType, true)
          .add("denominator", DataTypes.DoubleType, true)
          .add("sample_id", DataTypes.StringType, true)
          .add("importance", DataTypes.createArrayType(DataTypes.FloatType, false), true);

  private final ModelRef model;
  private final StatsConfig config;
  private final ExecutionProvider ep;
  private final int threads;
  private final int batchSize;
  private final boolean truncate;
  private final int bucket;
  private final List<Integer> sensitivityWindows;
  private final boolean layerSensitivity;
  private final AttentionTiling tiling;

  /**
   * {@code sensitivityWindows} null: no sensitivity measurement; empty: the default window set of
   * {@link SensitivityProfiler#windowsFor}. {@code layerSensitivity}: also measure each layer's
   * output KL ({@link SensitivityProfiler#profileLayers}; decoders only).
   */
  public ProfilePartition(
      ModelRef model,
      StatsConfig config,
      ExecutionProvider ep,
      int threads,
      int batchSize,
      boolean truncate,
      int bucket,
      List<Integer> sensitivityWindows,
      boolean layerSensitivity,
      AttentionTiling tiling) {
    this.tiling = tiling;
    this.layerSensitivity = layerSensitivity;
    this.sensitivityWindows = sensitivityWindows == null ? null : List.copyOf(sensitivityWindows);
    this.model = model;
    this.config = config;
    this.ep = ep;
    this.threads = threads;
    this.batchSize = batchSize;
    this.truncate = truncate;
    this.bucket = bucket;
  }

  @Override
  public Iterator<Row> call(Iterator<Row> rows) {
    Optional<TaskSamples> task = TaskSamples.read(rows, model, truncate);
    if (task.isEmpty()) {
      return Collections.emptyIterator();
    }
    ModelRef.Loaded loaded = task.get().loaded();
    List<CalibrationSample> checked = task.get().samples();
    List<TokenImportance> importance = new ArrayList<>();
    StatsAccumulator acc =
        new SampleProfiler(
                loaded.model(), loaded.map(), config, taskDevice(ep), threads, batchSize, tiling)
            .profile(bucket, checked, config.tokenImportance() ? importance::add : null);
    if (sensitivityWindows != null || layerSensitivity) {
      SensitivityProfiler sensitivity =
          new SensitivityProfiler(
              loaded.model(),
              loaded.map(),
              taskDevice(ep),
              threads,
              config.streamSinks().get(0),
              sensitivityWindows == null ? List.of() : sensitivityWindows);
      if (sensitivityWindows != null) {
        acc.merge(sensitivity.profile(bucket, checked, batchSize));
      }
      if (layerSensitivity) {
        acc.merge(sensitivity.profileLayers(bucket, checked, batchSize));
      }
    }
    List<Row> out = new ArrayList<>();
    for (StatsAccumulator.Partial p : acc.partials()) {
      out.add(
          RowFactory.create(
              "stat",
              p.bucket(),
              p.layer(),
              p.head(),
              p.stat(),
              p.sum(),
              p.count(),
              p.denominator(),
              null,
              null));
    }
    for (TokenImportance t : importance) {
      List<Float> v = new ArrayList<>(t.values().length);
      for (float x : t.values()) {
        v.add(x);
      }
      // rows of a Row encoder hold Scala sequences for array columns
      out.add(
          RowFactory.create(
              "importance",
              bucket,
              t.layer(),
              null,
              null,
              null,
              null,
              null,
              t.sampleId(),
              scala.jdk.javaapi.CollectionConverters.asScala(v)));
    }
    return out.iterator();
  }

  /**
   * The task's GPU (spark.task.resource.gpu.amount) when it has one, else the configured provider.
   */
  public static ExecutionProvider taskDevice(ExecutionProvider ep) {
    TaskContext ctx = TaskContext.get();
    if (ctx == null || ep.kind() == ExecutionProvider.Kind.CPU) {
      return ep;
    }
    Map<String, ResourceInformation> res = ctx.resourcesJMap();
    ResourceInformation gpu = res == null ? null : res.get("gpu");
    if (gpu == null || gpu.addresses().length == 0) {
      return ep;
    }
    return ep.onDevice(Integer.parseInt(gpu.addresses()[0].trim()));
  }
}
