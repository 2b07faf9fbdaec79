package io.headwise.jobs;

import io.headwise.export.attention.DecodeGraphExporter;
import io.headwise.export.attention.HeadwiseAttentionExport;
import io.headwise.export.attention.HeadwiseAttentionExporter;
import io.headwise.graph.AttentionLocator;
import io.headwise.graph.AttentionMap;
import io.headwise.graph.OnnxModel;
import io.headwise.jobs.cli.Cli;
import io.headwise.jobs.cli.ConfigOption;
import io.headwise.jobs.cli.OptionNames;
import io.headwise.jobs.cli.PlanModelOption;
import io.headwise.jobs.cli.WarehouseOptions;
import io.headwise.jobs.spark.SparkErrors;
import io.headwise.jobs.spark.SparkSessions;
import io.headwise.jobs.warehouse.PlanTables;
import io.headwise.jobs.warehouse.Warehouse;
import io.headwise.schemas.HeadwiseException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * The export step ({@code headwise export}; {@code spark-submit --class
 * io.headwise.jobs.ExportJob}): writes the model with every attention core replaced by one {@code
 * ai.headwise::HeadwiseAttention} node carrying the plan, plus the op's reference body as a
 * model-local function, so stock ONNX Runtime runs it (docs/headwise-attention.md).
 */
@Command(
    name = "export",
    mixinStandardHelpOptions = true,
    description =
        "Write the model as an ONNX graph whose attention cores are HeadwiseAttention nodes carrying a plan.")
public final class ExportJob implements Callable<Integer> {
  @Mixin ConfigOption config;

  @Mixin PlanModelOption model;

  @Option(names = OptionNames.PLAN_ID, required = true, description = "Plan to export.")
  String planId;

  @Option(
      names = OptionNames.OUT,
      required = true,
      paramLabel = "OUT.onnx",
      description =
          "Output file; a model with external data is written next to its data (copied if needed).")
  Path out;

  @Option(
      names = "--decode",
      description =
          "Write a decode graph instead (docs/decode.md): --model is the decoder"
              + " exported with its KV cache (past_key_values inputs), and its caches keep only what the plan keeps.")
  boolean decode;

  @Option(
      names = "--plan-model",
      paramLabel = "PATH",
      description =
          "With --decode: the model the plan was made for"
              + " (the same network without a cache; it must hold the same weights). Default: --model.")
  String planModel;

  @Mixin WarehouseOptions warehouse;

  /** spark-submit entry point. */
  public static void main(String[] args) {
    System.exit(Cli.run(new ExportJob(), args));
  }

  @Override
  public Integer call() {
    // --decode rewrites the path that reads the past: a merged decoder's cache branch
    OnnxModel m = decode ? model.load().cacheBranch() : model.load();
    checkOut(m, out);
    AttentionMap map = AttentionLocator.locate(m).requireAttention(m.source());
    SparkSession spark = SparkSessions.get(warehouse.master, "headwise export " + planId);
    try {
      if (decode) {
        OnnxModel forPlan = planModel == null ? m : OnnxModel.load(planModel);
        PlanTables.StoredPlan plan =
            PlanTables.read(new Warehouse(spark, warehouse.warehouse), planId, forPlan.modelId());
        DecodeGraphExporter.DecodeGraph graph =
            DecodeGraphExporter.rewrite(m, map, forPlan, plan.meta(), plan.rows());
        Path written = DecodeGraphExporter.write(m, graph, out);
        System.err.printf(
            "headwise export --decode: plan %s -> %s (%d cache groups over %d layers)%n",
            planId, written, graph.groups().size(), map.numLayers());
        return 0;
      }
      PlanTables.StoredPlan plan =
          PlanTables.read(new Warehouse(spark, warehouse.warehouse), planId, m.modelId());
      HeadwiseAttentionExport result =
          HeadwiseAttentionExporter.export(m, map, plan.meta(), plan.rows(), out);
      System.err.printf(
          "headwise export: plan %s -> %s (%d attention cores rewritten, external data: %s)%n",
          planId, result.output(), result.layersRewritten(), result.externalData());
      return 0;
    } catch (RuntimeException e) {
      throw SparkErrors.unwrap(e);
    }
  }

  /**
   * Refuses an output that would overwrite the input model or cannot be written (before Spark
   * starts).
   */
  static void checkOut(OnnxModel m, Path out) {
    Path p = out.toAbsolutePath().normalize();
    if (m.path().isPresent()) {
      Path in = m.path().get().toAbsolutePath().normalize();
      boolean same = in.equals(p);
      try {
        same |= Files.exists(p) && Files.isSameFile(in, p);
      } catch (IOException e) {
        // unreadable output path: the checks below or the write itself name it
      }
      if (same) {
        throw new HeadwiseException(
            OptionNames.OUT
                + " "
                + out
                + " is the input model; write the exported model"
                + " elsewhere");
      }
    }
    if (Files.isDirectory(p)) {
      throw new HeadwiseException(
          OptionNames.OUT + " " + out + " is a directory; pass the path of the .onnx file");
    }
    Path dir = p.getParent(); // the nearest existing folder on the way: the export creates the rest
    while (dir != null && !Files.exists(dir)) {
      dir = dir.getParent();
    }
    if (dir != null && (!Files.isDirectory(dir) || !Files.isWritable(dir))) {
      throw new HeadwiseException(
          "cannot write "
              + OptionNames.OUT
              + " "
              + out
              + ": "
              + dir
              + (Files.isDirectory(dir) ? " is not writable" : " is not a directory"));
    }
  }
}
