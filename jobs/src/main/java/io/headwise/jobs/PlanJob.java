package io.headwise.jobs;

import static org.apache.spark.sql.functions.col;

import io.headwise.jobs.cli.Cli;
import io.headwise.jobs.cli.ConfigOption;
import io.headwise.jobs.cli.ModelFilterOption;
import io.headwise.jobs.cli.OptionNames;
import io.headwise.jobs.cli.WarehouseOptions;
import io.headwise.jobs.spark.SparkErrors;
import io.headwise.jobs.spark.SparkSessions;
import io.headwise.jobs.warehouse.PlanTables;
import io.headwise.jobs.warehouse.RunRecords;
import io.headwise.jobs.warehouse.Warehouse;
import io.headwise.planners.HeadStatsTable;
import io.headwise.planners.KvPlanners;
import io.headwise.planners.Plan;
import io.headwise.planners.PlanCandidate;
import io.headwise.planners.PlanRequest;
import io.headwise.report.Numbers;
import io.headwise.schemas.HeadStat;
import io.headwise.schemas.HeadwiseException;
import io.headwise.schemas.Json;
import io.headwise.schemas.PlanMeta;
import io.headwise.schemas.PlanRow;
import io.headwise.schemas.Tables;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * The plan step ({@code headwise plan}; {@code spark-submit --class io.headwise.jobs.PlanJob}):
 * reads one profile run's {@code head_stats}, runs one planner and writes the plan (and, for MoA,
 * its Pareto candidates as {@code <plan id>-pareto-<i>}) to {@code attention_plans}, replacing only
 * those plan ids.
 */
@Command(
    name = "plan",
    mixinStandardHelpOptions = true,
    description =
        "Turn a profile run's head statistics into a per-head KV-cache plan (attention_plans).")
public final class PlanJob implements Callable<Integer> {
  public static final String STEP = "plan";

  @Mixin ConfigOption config;

  @Option(
      names = OptionNames.METHOD,
      required = true,
      description = "dense, streamingllm, h2o, moa, duo, razor or ems (experimental).")
  String method;

  @Option(
      names = OptionNames.STATS_RUN,
      required = true,
      description = "Profile run id to plan from.")
  String statsRun;

  @Option(
      names = OptionNames.KV_FRACTION,
      defaultValue = "1.0",
      description = "Share of the KV cache to keep, in (0, 1] (default: ${DEFAULT-VALUE}).")
  double kvFraction;

  @Option(
      names = OptionNames.LENGTH,
      split = ",",
      required = true,
      paramLabel = "N,...",
      description = "Sequence lengths the plan is sized for.")
  List<Integer> lengths;

  @Option(
      names = OptionNames.PLAN_ID,
      required = true,
      description = "Plan id; rerunning it replaces the plan.")
  String planId;

  @Mixin ModelFilterOption model;

  @Option(
      names = OptionNames.OPTION,
      paramLabel = "KEY=VALUE",
      description = "Method option (repeatable); unknown keys are rejected by name.")
  Map<String, String> options = new LinkedHashMap<>();

  @Mixin WarehouseOptions warehouse;

  /** spark-submit entry point. */
  public static void main(String[] args) {
    System.exit(Cli.run(new PlanJob(), args));
  }

  @Override
  public Integer call() {
    Instant started = Instant.now();
    KvPlanners.get(method);
    PlanRequest.check(planId, kvFraction, lengths); // before Spark's start-up
    String expectedModel = model.modelIdOrNull();
    SparkSession spark = SparkSessions.get(warehouse.master, "headwise plan " + planId);
    try {
      Warehouse w = new Warehouse(spark, warehouse.warehouse);
      HeadStatsTable stats =
          HeadStatsTable.of(readStats(w, statsRun, expectedModel))
              .withBucketSources(bucketSources(w, statsRun));
      Plan plan =
          KvPlanners.plan(method, new PlanRequest(planId, stats, kvFraction, lengths, options));
      List<Warehouse.TableWrite> writes = new ArrayList<>();
      writes.add(write(w, plan.meta(), plan.rows()));
      for (PlanCandidate c : plan.candidates()) {
        PlanMeta meta =
            new PlanMeta(
                c.candidateId(),
                plan.meta().modelId(),
                plan.meta().statsRunId(),
                plan.meta().method(),
                plan.meta().kvFractionTarget(),
                plan.meta().targetLengths(),
                c.expectedKvFraction(),
                plan.meta().numLayers(),
                plan.meta().numHeads(),
                plan.meta().numKvHeads(),
                plan.meta().createdAtMillis());
        writes.add(write(w, meta, c.rows()));
      }
      // candidates of an earlier run of this plan id that this run did not produce disappear with
      // that run's
      // attempt, which this run's runs row supersedes (CurrentRows)
      Map<String, Object> conf = new LinkedHashMap<>();
      conf.put("method", method);
      conf.put("stats_run", statsRun);
      conf.put("kv_fraction", kvFraction);
      conf.put("lengths", lengths);
      conf.put("options", options);
      Map<String, Long> counts =
          Map.of(
              Tables.ATTENTION_PLANS.name(),
              (long) plan.rows().size()
                  + plan.candidates().stream().mapToLong(c -> c.rows().size()).sum());
      writes.add(
          RunRecords.write(
              w,
              planId,
              STEP,
              stats.modelId(),
              model.model,
              started,
              conf,
              counts,
              "expected kv fraction " + plan.meta().expectedKvFraction()));
      w.commit(writes, "headwise plan " + planId);
      printSummary(plan);
      return 0;
    } catch (RuntimeException e) {
      throw SparkErrors.unwrap(e);
    }
  }

  private static Warehouse.TableWrite write(Warehouse w, PlanMeta meta, List<PlanRow> rows) {
    return new Warehouse.TableWrite(
        Tables.ATTENTION_PLANS,
        w.rows(Tables.ATTENTION_PLANS, PlanTables.toRows(meta, rows)),
        Map.of("model_id", meta.modelId(), "plan_id", meta.planId()));
  }

  /**
   * The calibration sources of each length bucket of a profile run (bucket → source → samples), as
   * its runs row records them; empty for runs profiled before they were recorded.
   */
  static Map<Integer, Map<String, Long>> bucketSources(Warehouse w, String runId) {
    Map<Integer, Map<String, Long>> out = new TreeMap<>();
    Optional<Dataset<Row>> runs = w.read(Tables.RUNS);
    if (runs.isEmpty()) {
      return out;
    }
    for (Row r :
        runs.get()
            .filter(col("run_id").equalTo(runId).and(col("step").equalTo(ProfileJob.STEP)))
            .select("config")
            .collectAsList()) {
      if (Json.readMap(r.getString(0)).get(ProfileJob.BUCKET_SOURCES) instanceof Map<?, ?> m) {
        m.forEach(
            (bucket, sources) -> {
              if (sources instanceof Map<?, ?> bySource) {
                Map<String, Long> counts =
                    out.computeIfAbsent(Integer.parseInt(bucket.toString()), b -> new TreeMap<>());
                bySource.forEach(
                    (source, n) -> counts.put(source.toString(), ((Number) n).longValue()));
              }
            });
      }
    }
    return out;
  }

  /** The head_stats rows of one run (of one model). */
  static List<HeadStat> readStats(Warehouse w, String runId, String expectedModel) {
    Dataset<Row> d =
        w.require(Tables.HEAD_STATS, "headwise profile").filter(col("run_id").equalTo(runId));
    List<Row> rows = d.collectAsList();
    if (rows.isEmpty()) {
      throw new HeadwiseException(
          "no head_stats rows for stats run '"
              + runId
              + "' under "
              + w.root()
              + "; run 'headwise profile --run-id "
              + runId
              + "' first");
    }
    List<HeadStat> out = new ArrayList<>(rows.size());
    Set<String> models = new TreeSet<>();
    for (Row r : rows) {
      HeadStat s =
          new HeadStat(
              r.getString(0),
              r.getString(1),
              r.getInt(2),
              r.getInt(3),
              r.getInt(4),
              r.getInt(5),
              r.getLong(6),
              r.getString(7),
              r.getDouble(8));
      models.add(s.modelId());
      out.add(s);
    }
    if (expectedModel != null && !models.contains(expectedModel)) {
      throw new HeadwiseException(
          "stats run '"
              + runId
              + "' is for model "
              + String.join(", ", models)
              + ", not for "
              + expectedModel
              + "; a plan is never made for another model");
    }
    if (models.size() > 1) {
      if (expectedModel == null) {
        throw new HeadwiseException(
            "stats run '"
                + runId
                + "' holds several models ("
                + String.join(", ", models)
                + "); pass --model to choose one");
      }
      out.removeIf(s -> !s.modelId().equals(expectedModel));
    }
    return out;
  }

  /**
   * "0.5 at length 128, 0.25 at length 512": 4 significant digits, for people (not {@code
   * 0.4999999999999995}).
   */
  static String kvFractions(Map<Integer, Double> byLength) {
    return new TreeMap<>(byLength)
        .entrySet().stream()
            .map(e -> Numbers.format(e.getValue()) + " at length " + e.getKey())
            .collect(Collectors.joining(", "));
  }

  private static void printSummary(Plan plan) {
    Map<String, Integer> kinds = new TreeMap<>();
    for (PlanRow r : plan.rows()) {
      kinds.merge(r.kind(), 1, Integer::sum);
    }
    System.out.printf(
        "plan %s (%s, %s): %d heads %s; expected KV fraction %s%n",
        plan.meta().planId(),
        plan.meta().method(),
        plan.rows().isEmpty() ? "" : plan.rows().get(0).granularity(),
        plan.rows().size(),
        kinds,
        kvFractions(plan.meta().expectedKvFraction()));
    try {
      com.fasterxml.jackson.databind.JsonNode warnings =
          new com.fasterxml.jackson.databind.ObjectMapper()
              .readTree(plan.paramsJson())
              .get("warnings");
      if (warnings != null) {
        warnings.forEach(w -> System.err.println("headwise plan: warning: " + w.asText()));
      }
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    if (plan.paramsJson().contains("\"experimental\":true")) {
      System.err.printf(
          "headwise plan: warning: method %s is experimental (reconstructed from the paper's abstract:"
              + " a head-wise budget heuristic, and at run time an evict-then-merge cache that only"
              + " export --decode and evaluate --decode implement); the publish gate holds them back%n",
          plan.meta().method());
    }
    if (!plan.candidates().isEmpty()) {
      System.out.printf(
          "  %d Pareto candidates: %s%n",
          plan.candidates().size(),
          plan.candidates().stream().map(PlanCandidate::candidateId).toList());
    }
  }
}
