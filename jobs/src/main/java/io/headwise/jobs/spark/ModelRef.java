package io.headwise.jobs.spark;

import io.headwise.graph.AttentionLocator;
import io.headwise.graph.AttentionMap;
import io.headwise.graph.DefaultModel;
import io.headwise.graph.OnnxModel;
import io.headwise.schemas.HeadwiseException;
import java.io.Serializable;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.spark.SparkFiles;
import org.apache.spark.sql.SparkSession;

/**
 * How executors find the model: by its path on a shared filesystem, or through {@code
 * SparkContext.addFile} (the model file and its external-data files, which then sit together in the
 * executor's SparkFiles directory), or on the classpath for the embedded default model. Executors
 * load it once per JVM and check its model id against the driver's.
 */
public record ModelRef(String source, String modelId, boolean shipped) implements Serializable {
  /** A loaded model and its attention map. */
  public record Loaded(OnnxModel model, AttentionMap map) {}

  private static final Map<String, Loaded> CACHE = new ConcurrentHashMap<>();

  /** A reference to {@code model}; with {@code ship}, adds its files to the Spark context. */
  public static ModelRef of(SparkSession spark, OnnxModel model, boolean ship) {
    if (ship && model.path().isPresent()) {
      Path p = model.path().get();
      spark.sparkContext().addFile(p.toString());
      for (String loc : externalLocations(model)) {
        spark.sparkContext().addFile(p.getParent().resolve(loc).toString());
      }
      return new ModelRef(model.source(), model.modelId(), true);
    }
    return new ModelRef(model.source(), model.modelId(), false);
  }

  /**
   * The external-data files {@code model}'s initializers reference (relative to its directory),
   * sorted, each once.
   */
  public static List<String> externalLocations(OnnxModel model) {
    TreeSet<String> locs = new TreeSet<>();
    model
        .graph()
        .getInitializerList()
        .forEach(
            t ->
                t.getExternalDataList()
                    .forEach(
                        e -> {
                          if (e.getKey().equals("location")) {
                            locs.add(e.getValue());
                          }
                        }));
    return List.copyOf(locs);
  }

  /** The model and its attention map in this JVM (loaded once). */
  public Loaded load() {
    return CACHE.computeIfAbsent(
        modelId,
        id -> {
          OnnxModel m;
          if (source.equals(DefaultModel.NAME)) {
            m = DefaultModel.load();
          } else {
            Path p = Path.of(source);
            if (shipped) {
              Path local = Path.of(SparkFiles.get(p.getFileName().toString()));
              if (Files.exists(local)) {
                p = local;
              }
            }
            m = OnnxModel.load(p);
          }
          if (!m.modelId().equals(modelId)) {
            throw new HeadwiseException(
                "the model at "
                    + source
                    + " on this executor has id "
                    + m.modelId()
                    + " but the driver loaded "
                    + modelId
                    + "; give every node the same model file");
          }
          return new Loaded(m, AttentionLocator.locate(m).requireAttention(m.source()));
        });
  }
}
