package io.headwise.jobs;

import static org.apache.spark.sql.functions.col;

import io.headwise.graph.AtomicFiles;
import io.headwise.graph.OnnxModel;
import io.headwise.jobs.cli.Cli;
import io.headwise.jobs.cli.ConfigOption;
import io.headwise.jobs.cli.OptionNames;
import io.headwise.jobs.cli.WarehouseOptions;
import io.headwise.jobs.spark.SparkErrors;
import io.headwise.jobs.spark.SparkSessions;
import io.headwise.jobs.warehouse.Versions;
import io.headwise.jobs.warehouse.Warehouse;
import io.headwise.report.EvaluationRecord;
import io.headwise.report.PlanRecord;
import io.headwise.report.QuantPlanRecord;
import io.headwise.report.ReportData;
import io.headwise.report.ReportRenderer;
import io.headwise.report.RunRecord;
import io.headwise.schemas.HeadStat;
import io.headwise.schemas.HeadwiseException;
import io.headwise.schemas.TableContract;
import io.headwise.schemas.Tables;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Callable;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * The report step ({@code headwise report}; {@code spark-submit --class
 * io.headwise.jobs.ReportJob}): reads {@code runs}, {@code head_stats}, {@code attention_plans},
 * {@code evaluations} and {@code quant_plans} from a warehouse (whichever exist) and writes one
 * self-contained HTML file with heatmaps, plan maps, fidelity charts and the tables. Writes nothing
 * to the warehouse; the HTML goes to a temporary file that is moved into place.
 */
@Command(
    name = "report",
    mixinStandardHelpOptions = true,
    description =
        "Write a self-contained HTML report (heatmaps, plans, fidelity charts, tables) of a warehouse.")
public final class ReportJob implements Callable<Integer> {
  public static final String STEP = "report";

  @Mixin ConfigOption config;

  @Option(
      names = OptionNames.OUT,
      paramLabel = "FILE.html",
      defaultValue = "report.html",
      description = "HTML file to write (default: ${DEFAULT-VALUE}); replaced atomically.")
  Path out;

  @Option(
      names = OptionNames.MODEL,
      paramLabel = "ID|PATH",
      description =
          "Only this model: a model id (sha256:..., a prefix is enough) or the path of its .onnx file.")
  String model;

  @Option(
      names = OptionNames.STATS_RUN,
      description = "Only this profile run, the plans made from it and their" + " evaluations.")
  String statsRun;

  @Mixin WarehouseOptions warehouse;

  /** spark-submit entry point. */
  public static void main(String[] args) {
    System.exit(Cli.run(new ReportJob(), args));
  }

  @Override
  public Integer call() {
    Path root = warehouse.warehouse.toAbsolutePath().normalize();
    if (!Files.isDirectory(root)) {
      throw new HeadwiseException(
          "warehouse "
              + root
              + " does not exist; run 'headwise profile --warehouse "
              + warehouse.warehouse
              + "' first");
    }
    String modelFilter = modelFilter();
    SparkSession spark = SparkSessions.get(warehouse.master, "headwise report");
    try {
      Warehouse w = new Warehouse(spark, root);
      Set<String> missing = new LinkedHashSet<>();
      Map<TableContract, Dataset<Row>> tables = new LinkedHashMap<>();
      for (TableContract t :
          List.of(
              Tables.RUNS,
              Tables.HEAD_STATS,
              Tables.ATTENTION_PLANS,
              Tables.EVALUATIONS,
              Tables.QUANT_PLANS)) {
        Optional<Dataset<Row>> d = w.read(t);
        if (d.isPresent()) {
          tables.put(t, modelFilter == null ? d.get() : d.get().filter(modelMatches(modelFilter)));
        } else {
          missing.add(t.name());
        }
      }
      if (tables.isEmpty()) {
        throw new HeadwiseException(
            "no headwise tables under "
                + root
                + " (runs, head_stats, attention_plans,"
                + " evaluations, quant_plans); run 'headwise profile --warehouse "
                + warehouse.warehouse
                + "' first");
      }
      List<HeadStat> stats = ReportRows.headStats(tables.get(Tables.HEAD_STATS));
      List<PlanRecord> plans = ReportRows.plans(tables.get(Tables.ATTENTION_PLANS));
      List<EvaluationRecord> evaluations = ReportRows.evaluations(tables.get(Tables.EVALUATIONS));
      List<QuantPlanRecord> quant = ReportRows.quantPlans(tables.get(Tables.QUANT_PLANS));
      List<RunRecord> runs = ReportRows.runs(tables.get(Tables.RUNS));
      if (statsRun != null) {
        stats.removeIf(s -> !s.runId().equals(statsRun));
        plans.removeIf(p -> !p.meta().statsRunId().equals(statsRun));
        Set<String> planKeys = new LinkedHashSet<>();
        plans.forEach(p -> planKeys.add(p.meta().modelId() + "\u0000" + p.planId()));
        evaluations.removeIf(e -> !planKeys.contains(e.modelId() + "\u0000" + e.planId()));
        Set<String> evalRuns = new LinkedHashSet<>();
        evaluations.forEach(e -> evalRuns.add(e.runId()));
        runs.removeIf(
            r ->
                switch (r.step()) {
                  case ProfileJob.STEP -> !r.runId().equals(statsRun);
                  case PlanJob.STEP -> plans.stream().noneMatch(p -> p.planId().equals(r.runId()));
                  case EvaluateJob.STEP -> !evalRuns.contains(r.runId());
                  default -> false;
                });
        if (stats.isEmpty() && plans.isEmpty()) {
          throw new HeadwiseException(
              "no head_stats rows and no plans for stats run '"
                  + statsRun
                  + "' under "
                  + root
                  + (modelFilter == null ? "" : " for model " + modelFilter));
        }
      }
      if (stats.isEmpty()
          && plans.isEmpty()
          && evaluations.isEmpty()
          && quant.isEmpty()
          && runs.isEmpty()) {
        throw new HeadwiseException(
            modelFilter == null
                ? "the tables under " + root + " are empty; run 'headwise" + " profile' first"
                : "nothing under " + root + " for model " + modelFilter);
      }
      List<String> filters = new ArrayList<>();
      if (model != null) {
        filters.add("model " + model);
      }
      if (statsRun != null) {
        filters.add("stats run " + statsRun);
      }
      ReportData data =
          new ReportData(
              root.toString(),
              Instant.now(),
              Versions.json(spark),
              String.join(", ", filters),
              runs,
              stats,
              plans,
              evaluations,
              quant,
              missing);
      String html = ReportRenderer.render(data);
      Path target = write(out, html);
      System.out.printf(
          "report written to %s (%d runs, %d head_stats rows, %d plans, %d evaluations%s)%n",
          target,
          runs.size(),
          stats.size(),
          plans.size(),
          evaluations.size(),
          missing.isEmpty() ? "" : "; not found: " + String.join(", ", missing));
      return 0;
    } catch (RuntimeException e) {
      throw SparkErrors.unwrap(e);
    }
  }

  /** The model id (or id prefix) to keep, or null for every model. */
  private String modelFilter() {
    if (model == null || model.isBlank()) {
      return null;
    }
    if (model.startsWith("sha256:")) {
      return model;
    }
    return OnnxModel.load(model).modelId();
  }

  private static Column modelMatches(String modelFilter) {
    return col("model_id").startsWith(modelFilter);
  }

  /** Writes {@code html} to {@code out} atomically ({@link AtomicFiles}). */
  static Path write(Path out, String html) {
    Path target = out.toAbsolutePath().normalize();
    if (Files.isDirectory(target)) {
      throw new HeadwiseException(
          "--out " + out + " is a directory; pass the path of an .html file");
    }
    try {
      AtomicFiles.writeString(target, html);
      return target;
    } catch (IOException e) {
      throw new HeadwiseException("cannot write the report to " + out + ": " + e.getMessage(), e);
    }
  }
}
