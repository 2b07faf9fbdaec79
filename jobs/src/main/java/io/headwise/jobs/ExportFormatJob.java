package io.headwise.jobs;

import io.headwise.export.formats.FormatOptions;
import io.headwise.export.formats.HfLayerTypesFormat;
import io.headwise.export.formats.PlanFormats;
import io.headwise.jobs.cli.Cli;
import io.headwise.jobs.cli.ConfigOption;
import io.headwise.jobs.cli.ModelFilterOption;
import io.headwise.jobs.cli.OptionNames;
import io.headwise.jobs.cli.WarehouseOptions;
import io.headwise.jobs.spark.SparkErrors;
import io.headwise.jobs.spark.SparkSessions;
import io.headwise.jobs.warehouse.PlanTables;
import io.headwise.jobs.warehouse.Warehouse;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * Writes a stored plan in a format an engine reads ({@code headwise export-format}): the
 * DuoAttention directory, MoA alphas/betas JSON, or Hugging Face {@code layer_types}/{@code
 * sliding_window}.
 */
@Command(
    name = "export-format",
    mixinStandardHelpOptions = true,
    description =
        "Write a plan as DuoAttention (duo), MoA (moa) or Hugging Face layer_types (hf) files.")
public final class ExportFormatJob implements Callable<Integer> {
  @Mixin ConfigOption config;

  @Option(names = OptionNames.PLAN_ID, required = true, description = "Plan to export.")
  String planId;

  @Option(names = OptionNames.FORMAT, required = true, description = "duo, moa or hf.")
  String format;

  @Option(
      names = OptionNames.OUT,
      required = true,
      paramLabel = "DIR",
      description = "Output directory (new or empty).")
  Path out;

  @Mixin ModelFilterOption model;

  @Option(
      names = "--hf-model-type",
      paramLabel = "TYPE",
      description =
          "hf: the model_type of the model's"
              + " Hugging Face config (qwen2, qwen3); families that ignore layer_types (llama, mistral) are refused.")
  String hfModelType;

  @Option(
      names = "--drop-sinks",
      description =
          "hf: turn the plan's attention-sink tokens into recent tokens (HF"
              + " sliding attention keeps none); the exported variant is then not the evaluated plan.")
  boolean dropSinks;

  @Mixin WarehouseOptions warehouse;

  /** spark-submit entry point. */
  public static void main(String[] args) {
    System.exit(Cli.run(new ExportFormatJob(), args));
  }

  @Override
  public Integer call() {
    PlanFormats.get(format);
    FormatOptions formatOptions = new FormatOptions(hfModelType, dropSinks);
    if (PlanFormats.get(format) instanceof HfLayerTypesFormat) {
      HfLayerTypesFormat.family(formatOptions); // before Spark starts
    }
    String modelId = model.modelIdOrNull();
    SparkSession spark = SparkSessions.get(warehouse.master, "headwise export-format " + planId);
    try {
      PlanTables.StoredPlan plan =
          PlanTables.read(new Warehouse(spark, warehouse.warehouse), planId, modelId);
      for (String warning :
          PlanFormats.get(format).write(plan.meta(), plan.rows(), out, formatOptions)) {
        System.err.println("headwise export-format: warning: " + warning);
      }
      System.err.printf("headwise export-format: wrote plan %s as %s to %s%n", planId, format, out);
      return 0;
    } catch (RuntimeException e) {
      throw SparkErrors.unwrap(e);
    }
  }
}
