package io.headwise.jobs;

import io.headwise.export.attention.DecodeGraphExporter;
import io.headwise.graph.AttentionLocator;
import io.headwise.graph.AttentionMap;
import io.headwise.graph.OnnxModel;
import io.headwise.jobs.cli.Cli;
import io.headwise.jobs.cli.ConfigOption;
import io.headwise.jobs.cli.OptionNames;
import io.headwise.jobs.cli.OrtOptions;
import io.headwise.jobs.cli.PartitionsOption;
import io.headwise.jobs.cli.PlanModelOption;
import io.headwise.jobs.cli.WarehouseOptions;
import io.headwise.jobs.spark.CalibrationRows;
import io.headwise.jobs.spark.CalibrationSources;
import io.headwise.jobs.spark.EvaluatePartition;
import io.headwise.jobs.spark.EvaluatePartition.PlanToEvaluate;
import io.headwise.jobs.spark.ModelRef;
import io.headwise.jobs.spark.OutputComparisonRecord;
import io.headwise.jobs.spark.SparkErrors;
import io.headwise.jobs.spark.SparkSessions;
import io.headwise.jobs.warehouse.PlanTables;
import io.headwise.jobs.warehouse.RunRecords;
import io.headwise.jobs.warehouse.Warehouse;
import io.headwise.planners.HeadStatsTable;
import io.headwise.planners.KvFraction;
import io.headwise.planners.KvPlanners;
import io.headwise.planners.Plan;
import io.headwise.planners.PlanRequest;
import io.headwise.profilers.CalibrationSample;
import io.headwise.profilers.ExecutionProvider;
import io.headwise.profilers.eval.OutputComparison;
import io.headwise.schemas.HeadwiseException;
import io.headwise.schemas.PlanRow;
import io.headwise.schemas.Tables;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * The evaluate step ({@code headwise evaluate}; {@code spark-submit --class
 * io.headwise.jobs.EvaluateJob}): runs the dense model and the plan's exported graph on held-out
 * samples on Spark, and also the uniform StreamingLLM plan at the same KV fraction (stored as
 * {@code <plan id>-uniform}), and writes both to {@code evaluations} with mode {@code prefill} (the
 * prefill simulation). With {@code --decode}, both are run through their decode graphs in the
 * driver instead ({@link DecodeEvaluation}) and stored with mode {@code decode}.
 *
 * <p>One class (about 450 lines): its options, the run over the plan and its baseline, and the
 * printed comparison are one step; what stands alone is apart (the decode route in {@link
 * DecodeEvaluation}, the Spark task in {@link io.headwise.jobs.spark.EvaluatePartition}) or is a
 * static function tested on its own ({@link #label}, {@link #keptFraction}, {@link
 * #worseThanUniform}).
 */
@Command(
    name = "evaluate",
    mixinStandardHelpOptions = true,
    description =
        "Evaluate a plan against the dense model and the uniform StreamingLLM baseline on held-out samples.")
public final class EvaluateJob implements Callable<Integer> {
  public static final String STEP = "evaluate";
  public static final String NO_BASELINE = "--no-baseline";
  public static final String BASELINE_SUFFIX = "-uniform";

  @Mixin ConfigOption config;

  @Mixin PlanModelOption model;

  @Option(names = OptionNames.PLAN_ID, required = true, description = "Plan to evaluate.")
  String planId;

  @Option(
      names = OptionNames.SAMPLES,
      required = true,
      paramLabel = "SRC",
      description = "Held-out samples: JSONL file or Delta/Parquet table (repeatable).")
  List<String> samples;

  @Option(names = OptionNames.RUN_ID, required = true, description = "Evaluation run id.")
  String runId;

  @Option(names = NO_BASELINE, description = "Skip the uniform StreamingLLM baseline.")
  boolean noBaseline;

  @Option(
      names = OptionNames.BATCH_SIZE,
      defaultValue = "4",
      description = "Sequences per ONNX Runtime run.")
  int batchSize;

  @Mixin OrtOptions ort;

  @Mixin PartitionsOption partitions;

  @Option(
      names = "--decode",
      description =
          "Measure the plan through its decode graph (docs/decode.md): every"
              + " sample decoded token by token with caches that keep only what the plan keeps, against the dense model;"
              + " needs --decoder. Stored in evaluations with mode decode (the plan and its"
              + " uniform baseline); without it, mode prefill (the prefill simulation).")
  boolean decode;

  @Option(
      names = "--decoder",
      paramLabel = "PATH",
      description =
          "With --decode: --model exported with its KV cache"
              + " (past_key_values inputs; the same weights).")
  String decoder;

  @Mixin WarehouseOptions warehouse;

  /** spark-submit entry point. */
  public static void main(String[] args) {
    System.exit(Cli.run(new EvaluateJob(), args));
  }

  @Override
  public Integer call() {
    Instant started = Instant.now();
    if (decode && decoder == null) {
      throw new HeadwiseException(
          "--decode needs --decoder PATH: the model exported with its KV cache");
    }
    OnnxModel m = model.load();
    AttentionMap map = AttentionLocator.locate(m).requireAttention(m.source());
    ExecutionProvider provider = ort.executionProvider();
    SparkSession spark = SparkSessions.get(warehouse.master, "headwise evaluate " + runId);
    try {
      Warehouse w = new Warehouse(spark, warehouse.warehouse);
      PlanTables.StoredPlan plan = PlanTables.read(w, planId, m.modelId());
      List<PlanToEvaluate> plans =
          new ArrayList<>(List.of(new PlanToEvaluate(plan.meta(), plan.rows())));
      PlanToEvaluate baseline = null;
      if (!noBaseline
          && !plan.meta().method().equals("dense")
          && !plan.meta().method().equals("streamingllm")) {
        baseline = baseline(w, plan);
        plans.add(baseline);
      }
      Dataset<Row> held = CalibrationSources.read(spark, samples, m.modelId());
      Map<String, OutputComparison.Metrics> metrics = new LinkedHashMap<>();
      List<Integer> lengths;
      if (decode) {
        OnnxModel d = OnnxModel.load(decoder).cacheBranch();
        AttentionMap decoderMap = AttentionLocator.locate(d);
        // every graph first: a plan the decode graph cannot hold is refused before anything runs
        Map<String, DecodeGraphExporter.DecodeGraph> graphs = new LinkedHashMap<>();
        for (PlanToEvaluate p : plans) {
          graphs.put(
              p.meta().planId(), DecodeGraphExporter.rewrite(d, decoderMap, m, p.meta(), p.rows()));
        }
        List<CalibrationSample> list =
            held.collectAsList().stream().map(CalibrationRows::fromRow).toList();
        if (list.isEmpty()) {
          throw new HeadwiseException(
              "no held-out samples for model " + m.modelId() + " in " + samples);
        }
        lengths = list.stream().map(CalibrationSample::length).toList();
        for (PlanToEvaluate p : plans) {
          metrics.put(
              p.meta().planId(),
              DecodeEvaluation.run(m, d, graphs.get(p.meta().planId()), list, ort.threads));
        }
      } else {
        lengths = held.select("length").as(Encoders.INT()).collectAsList();
        if (lengths.isEmpty()) {
          throw new HeadwiseException(
              "no held-out samples for model " + m.modelId() + " in " + samples);
        }
        int parts = partitions.resolve(spark);
        spark
            .sparkContext()
            .setJobDescription(
                "headwise evaluate "
                    + runId
                    + ": "
                    + plans.size()
                    + " plan(s) on "
                    + lengths.size()
                    + " samples");
        List<OutputComparisonRecord> partial =
            held.repartition(Math.max(1, Math.min(parts, lengths.size())))
                .mapPartitions(
                    new EvaluatePartition(
                        ModelRef.of(spark, m, false), plans, provider, ort.threads, batchSize),
                    Encoders.javaSerialization(OutputComparisonRecord.class))
                .collectAsList();
        Map<String, OutputComparison> merged = new LinkedHashMap<>();
        for (PlanToEvaluate p : plans) {
          merged.put(p.meta().planId(), new OutputComparison());
        }
        partial.forEach(r -> merged.get(r.getPlanId()).merge(r.getComparison()));
        merged.forEach((id, c) -> metrics.put(id, c.metrics()));
      }
      String mode = decode ? Tables.MODE_DECODE : Tables.MODE_PREFILL;
      boolean causal = map.block(0).causal();
      // the planner ranked this plan above the uniform rule by its cost model; a measurement that
      // disagrees is said on the printed line and in the plan's row
      String againstUniform =
          againstUniform(
              metrics.get(planId), baseline == null ? null : metrics.get(baseline.meta().planId()));
      List<Row> rows = new ArrayList<>();
      Timestamp now = Timestamp.from(Instant.now());
      for (PlanToEvaluate p : plans) {
        OutputComparison.Metrics x = metrics.get(p.meta().planId());
        boolean isBaseline = baseline != null && p == baseline;
        rows.add(
            RowFactory.create(
                m.modelId(),
                runId,
                p.meta().planId(),
                p.meta().method(),
                mode,
                isBaseline,
                isBaseline ? planId : null,
                isBaseline ? Tables.BASELINE_ROW : againstUniform,
                p.meta().kvFractionTarget(),
                keptFraction(p.rows(), lengths, causal),
                (int) x.samples(),
                x.positions(),
                x.klMean(),
                x.top1Agreement(),
                x.nllDelta(),
                x.repeatAccuracy(),
                x.referenceRepeatAccuracy(),
                x.passkeyAccuracy(),
                x.referencePasskeyAccuracy(),
                x.cosineMean(),
                now));
        print(
            label(p.meta().planId(), p.meta().method(), isBaseline, decode),
            x,
            keptFraction(p.rows(), lengths, causal));
      }
      if (againstUniform.startsWith(WORSE)) {
        System.out.println(
            "headwise evaluate: plan "
                + planId
                + " is WORSE than the uniform plan at the same KV"
                + " fraction: "
                + againstUniform.substring(WORSE.length()));
      }
      List<Warehouse.TableWrite> writes = new ArrayList<>();
      for (PlanToEvaluate p : plans) {
        writes.add(
            new Warehouse.TableWrite(
                Tables.EVALUATIONS,
                w.rows(
                    Tables.EVALUATIONS,
                    rows.stream().filter(r -> r.getString(2).equals(p.meta().planId())).toList()),
                Map.of("model_id", m.modelId(), "run_id", runId, "plan_id", p.meta().planId())));
      }
      if (baseline != null) {
        writes.add(
            new Warehouse.TableWrite(
                Tables.ATTENTION_PLANS,
                w.rows(Tables.ATTENTION_PLANS, PlanTables.toRows(baseline.meta(), baseline.rows())),
                Map.of("model_id", m.modelId(), "plan_id", baseline.meta().planId())));
      }
      Map<String, Object> conf = new LinkedHashMap<>();
      conf.put("model", model.model);
      conf.put("plan_id", planId);
      conf.put("samples", samples);
      conf.put("baseline", baseline != null);
      conf.put("mode", mode);
      if (decode) {
        conf.put("decoder", decoder);
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
              Map.of(Tables.EVALUATIONS.name(), (long) rows.size()),
              "plan " + planId));
      w.commit(writes, "headwise evaluate " + runId);
      return 0;
    } catch (RuntimeException e) {
      throw SparkErrors.unwrap(e);
    }
  }

  /**
   * The uniform StreamingLLM plan at the KV fraction the plan actually keeps at its target lengths.
   */
  private static PlanToEvaluate baseline(Warehouse w, PlanTables.StoredPlan plan) {
    double f =
        plan.meta().expectedKvFraction().values().stream()
            .mapToDouble(Double::doubleValue)
            .average()
            .orElse(plan.meta().kvFractionTarget());
    f = Math.min(1.0, Math.max(1e-6, f));
    HeadStatsTable stats =
        HeadStatsTable.of(PlanJob.readStats(w, plan.meta().statsRunId(), plan.meta().modelId()));
    Plan p =
        KvPlanners.plan(
            "streamingllm",
            new PlanRequest(
                plan.meta().planId() + BASELINE_SUFFIX,
                stats,
                f,
                plan.meta().targetLengths(),
                Map.of()));
    return new PlanToEvaluate(p.meta(), p.rows());
  }

  /**
   * KV fraction actually kept over the evaluated positions: for every sample and valid query
   * position (the cache holds i + 1 tokens for decoders, the whole sequence for encoders), the mean
   * over heads of kept / held tokens, averaged over positions.
   */
  static double keptFraction(List<PlanRow> rows, List<Integer> lengths, boolean causal) {
    double sum = 0;
    long n = 0;
    Map<Integer, Double> cache = new HashMap<>();
    for (int len : lengths) {
      if (causal) {
        for (int i = 1; i <= len; i++) {
          sum += cache.computeIfAbsent(i, k -> KvFraction.at(rows, k));
          n++;
        }
      } else {
        sum += len * cache.computeIfAbsent(len, k -> KvFraction.at(rows, k));
        n += len;
      }
    }
    return n == 0 ? Double.NaN : sum / n;
  }

  /**
   * What the plan measures worse than its uniform baseline (KL, repeat or passkey accuracy), or
   * null.
   */
  /**
   * How the printed line names a plan: the uniform baseline says so, and an h2o plan's number is a
   * per-query simulation of H2O (evicted tokens may return), not H2O's own eviction cache, which
   * {@code evaluate --decode} measures (labelled mode decode); the two have measured on both sides
   * of each other.
   */
  static String label(String planId, String method, boolean isBaseline, boolean decode) {
    return planId
        + (isBaseline ? " (uniform baseline)" : "")
        + (decode
            ? " (mode decode)"
            : H2O.equals(method) && !isBaseline
                ? " (" + H2O_SIMULATED + "; --decode measures H2O's own cache)"
                : "");
  }

  public static final String H2O = "h2o";

  /** The label of a number measured through the prefill simulation of H2O. */
  public static final String H2O_SIMULATED = "h2o simulated per query, not H2O's own eviction";

  /**
   * The {@code against_uniform} value of a plan's row: {@code worse: } and what measured worse,
   * {@code not worse}, or {@code not compared} without a baseline.
   */
  static String againstUniform(OutputComparison.Metrics plan, OutputComparison.Metrics uniform) {
    if (uniform == null) {
      return Tables.NOT_COMPARED;
    }
    String worse = worseThanUniform(plan, uniform);
    return worse == null ? Tables.NOT_WORSE : WORSE + worse;
  }

  /** How an {@code against_uniform} value that names what measured worse begins. */
  private static final String WORSE = "worse: ";

  static String worseThanUniform(OutputComparison.Metrics plan, OutputComparison.Metrics uniform) {
    List<String> out = new ArrayList<>();
    if (plan.klMean() != null && uniform.klMean() != null && plan.klMean() > uniform.klMean()) {
      out.add(String.format(Locale.ROOT, "KL %.4f > %.4f", plan.klMean(), uniform.klMean()));
    }
    if (plan.repeatAccuracy() != null
        && uniform.repeatAccuracy() != null
        && plan.repeatAccuracy() < uniform.repeatAccuracy()) {
      out.add(
          String.format(
              Locale.ROOT,
              "repeat accuracy %.3f < %.3f",
              plan.repeatAccuracy(),
              uniform.repeatAccuracy()));
    }
    if (plan.passkeyAccuracy() != null
        && uniform.passkeyAccuracy() != null
        && plan.passkeyAccuracy() < uniform.passkeyAccuracy()) {
      out.add(
          String.format(
              Locale.ROOT,
              "passkey accuracy %.3f < %.3f",
              plan.passkeyAccuracy(),
              uniform.passkeyAccuracy()));
    }
    if (plan.cosineMean() != null
        && uniform.cosineMean() != null
        && plan.cosineMean() < uniform.cosineMean()) {
      out.add(
          String.format(
              Locale.ROOT, "cosine %.5f < %.5f", plan.cosineMean(), uniform.cosineMean()));
    }
    return out.isEmpty() ? null : String.join(", ", out);
  }

  private static void print(String name, OutputComparison.Metrics x, double kept) {
    StringBuilder s = new StringBuilder(String.format(Locale.ROOT, "%-28s kv %.3f", name, kept));
    if (x.klMean() != null) {
      s.append(
          String.format(
              Locale.ROOT,
              "  kl %.4f  top1 %.3f  nll_delta %+.4f",
              x.klMean(),
              x.top1Agreement(),
              x.nllDelta()));
    }
    if (x.repeatAccuracy() != null) {
      s.append(
          String.format(
              Locale.ROOT,
              "  repeat_acc %.3f (dense %.3f)",
              x.repeatAccuracy(),
              x.referenceRepeatAccuracy()));
    }
    if (x.passkeyAccuracy() != null) {
      s.append(
          String.format(
              Locale.ROOT,
              "  passkey_acc %.3f (dense %.3f)",
              x.passkeyAccuracy(),
              x.referencePasskeyAccuracy()));
    }
    if (x.cosineMean() != null) {
      s.append(String.format(Locale.ROOT, "  cosine %.5f", x.cosineMean()));
    }
    System.out.println(s);
  }
}
