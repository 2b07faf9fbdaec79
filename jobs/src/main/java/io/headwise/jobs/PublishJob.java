package io.headwise.jobs;

import static io.headwise.jobs.warehouse.RowValues.dbl;
import static io.headwise.jobs.warehouse.RowValues.str;
import static org.apache.spark.sql.functions.col;

import io.headwise.jobs.cli.Cli;
import io.headwise.jobs.cli.ConfigOption;
import io.headwise.jobs.cli.ModelFilterOption;
import io.headwise.jobs.cli.OptionNames;
import io.headwise.jobs.cli.WarehouseOptions;
import io.headwise.jobs.publish.PublishGate;
import io.headwise.jobs.publish.PublishGate.Decision;
import io.headwise.jobs.publish.PublishGate.Evaluation;
import io.headwise.jobs.publish.PublishGate.Thresholds;
import io.headwise.jobs.spark.SparkErrors;
import io.headwise.jobs.spark.SparkSessions;
import io.headwise.jobs.warehouse.RunRecords;
import io.headwise.jobs.warehouse.Warehouse;
import io.headwise.schemas.HeadwiseException;
import io.headwise.schemas.Tables;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * The publish gate ({@code headwise publish}; {@code spark-submit --class
 * io.headwise.jobs.PublishJob}): compares the {@code evaluations} rows of one evaluation run with
 * thresholds and writes the plans that meet all of them to {@code published_plans} (the table
 * serving teams read), with the thresholds and measured values as gate Json.MAPPER.
 *
 * <p>Checks, each applied only where the evaluation measured it (otherwise skipped, and the reason
 * recorded):
 *
 * <ul>
 *   <li>{@code kl_ratio}: plan {@code kl_mean} / {@code kl_mean} of the uniform StreamingLLM
 *       baseline evaluated in the same run at the same KV fraction, at most {@value
 *       #DEFAULT_MAX_KL_RATIO} by default (decoders with a baseline row);
 *   <li>{@code kl}, {@code top1}: absolute KL at most / top-1 agreement at least (off by default;
 *       decoders);
 *   <li>{@code repeat_retention}, {@code passkey_retention}: plan accuracy / dense accuracy on
 *       repeat and passkey probes, at least {@value #DEFAULT_MIN_RETENTION} (decoders, when such
 *       probes were among the held-out samples and the dense model scores above 0);
 *   <li>{@code cosine}: mean cosine of final hidden states at least {@value #DEFAULT_MIN_COSINE}
 *       (encoders).
 * </ul>
 *
 * Plans of experimental methods ({@code ems}) are always held back (check {@code method}). A plan
 * is published when at least one check applied and every applied check passed. A plan held back is
 * not an error (exit 0, one line saying why) unless {@value #FAIL_IF_HELD} is given (exit {@value
 * #EXIT_HELD}); its row in {@code published_plans}, if an earlier gate had published it, is
 * removed, so the table holds the latest decision per (model, plan). Rerunning replaces that plan's
 * row only. The decision itself is {@link PublishGate}, a pure function of the rows read here.
 */
@Command(
    name = "publish",
    mixinStandardHelpOptions = true,
    description =
        "Publish the plans of an evaluation run that meet the thresholds to published_plans.")
public final class PublishJob implements Callable<Integer> {
  public static final String STEP = "publish";
  public static final String ARTIFACT = "--artifact";
  public static final String MAX_KL_RATIO = "--max-kl-ratio";
  public static final String MAX_KL = "--max-kl";
  public static final String MIN_TOP1 = "--min-top1";
  public static final String MIN_REPEAT_RETENTION = "--min-repeat-retention";
  public static final String MIN_PASSKEY_RETENTION = "--min-passkey-retention";
  public static final String MIN_COSINE = "--min-cosine";
  public static final String FAIL_IF_HELD = "--fail-if-held";

  /** Exit code with {@value #FAIL_IF_HELD} when a plan was held back. */
  public static final int EXIT_HELD = 3;

  static final String DEFAULT_MAX_KL_RATIO = "1.0";
  static final String DEFAULT_MIN_RETENTION = "0.9";
  static final String DEFAULT_MIN_COSINE = "0.99";
  static final String OFF = "off";

  @Mixin ConfigOption config;

  @Option(
      names = OptionNames.RUN_ID,
      required = true,
      description = "Evaluation run whose plans are gated.")
  String runId;

  @Option(
      names = OptionNames.PLAN_ID,
      paramLabel = "PLAN",
      description =
          "Gate only these plans of the run (repeatable; default: every non-baseline plan of the run).")
  List<String> planIds;

  @Mixin ModelFilterOption model;

  @Option(
      names = ARTIFACT,
      paramLabel = "PATH",
      description =
          "Exported graph or engine-format directory of the plan, recorded with it (one plan only).")
  String artifact;

  @Option(
      names = MAX_KL_RATIO,
      defaultValue = DEFAULT_MAX_KL_RATIO,
      converter = Threshold.class,
      paramLabel = "X|off",
      description =
          "Plan KL / uniform-baseline KL at the same KV fraction, at most X (default: ${DEFAULT-VALUE}).")
  Double maxKlRatio;

  @Option(
      names = MAX_KL,
      defaultValue = OFF,
      converter = Threshold.class,
      paramLabel = "X|off",
      description = "Mean KL(dense || plan) at most X (default: ${DEFAULT-VALUE}).")
  Double maxKl;

  @Option(
      names = MIN_TOP1,
      defaultValue = OFF,
      converter = Threshold.class,
      paramLabel = "X|off",
      description = "Top-1 agreement with the dense model at least X (default: ${DEFAULT-VALUE}).")
  Double minTop1;

  @Option(
      names = MIN_REPEAT_RETENTION,
      defaultValue = DEFAULT_MIN_RETENTION,
      converter = Threshold.class,
      paramLabel = "X|off",
      description =
          "Repeat-probe accuracy / dense accuracy at least X (default: ${DEFAULT-VALUE}).")
  Double minRepeatRetention;

  @Option(
      names = MIN_PASSKEY_RETENTION,
      defaultValue = DEFAULT_MIN_RETENTION,
      converter = Threshold.class,
      paramLabel = "X|off",
      description = "Passkey accuracy / dense accuracy at least X (default: ${DEFAULT-VALUE}).")
  Double minPasskeyRetention;

  @Option(
      names = MIN_COSINE,
      defaultValue = DEFAULT_MIN_COSINE,
      converter = Threshold.class,
      paramLabel = "X|off",
      description =
          "Encoders: mean cosine of final hidden states at least X (default: ${DEFAULT-VALUE}).")
  Double minCosine;

  @Option(
      names = FAIL_IF_HELD,
      description =
          "Exit with code "
              + EXIT_HELD
              + " when a plan is held back (default: exit 0 and say why).")
  boolean failIfHeld;

  @Mixin WarehouseOptions warehouse;

  /** spark-submit entry point. */
  public static void main(String[] args) {
    System.exit(Cli.run(new PublishJob(), args));
  }

  /** A threshold value: a number, or {@code off} (null). */
  static final class Threshold implements CommandLine.ITypeConverter<Double> {
    @Override
    public Double convert(String value) {
      if (value.trim().equalsIgnoreCase(OFF)) {
        return null;
      }
      try {
        double d = Double.parseDouble(value.trim());
        if (!Double.isFinite(d)) {
          throw new CommandLine.TypeConversionException("'" + value + "' is not a finite number");
        }
        return d;
      } catch (NumberFormatException e) {
        throw new CommandLine.TypeConversionException(
            "'" + value + "' is neither a number nor 'off'");
      }
    }
  }

  @Override
  public Integer call() {
    Instant started = Instant.now();
    String modelId = model.modelIdOrNull();
    String artifactPath = artifactPath();
    SparkSession spark = SparkSessions.get(warehouse.master, "headwise publish " + runId);
    try {
      Warehouse w = new Warehouse(spark, warehouse.warehouse);
      Dataset<Row> ev =
          w.require(Tables.EVALUATIONS, "headwise evaluate").filter(col("run_id").equalTo(runId));
      if (modelId != null) {
        ev = ev.filter(col("model_id").equalTo(modelId));
      }
      List<Row> rows = ev.collectAsList();
      if (rows.isEmpty()) {
        throw new HeadwiseException(
            "no evaluations for run '"
                + runId
                + "'"
                + (modelId == null ? "" : " of model " + modelId)
                + " under "
                + w.root()
                + "; run 'headwise evaluate --run-id "
                + runId
                + "' first");
      }
      TreeSet<String> models = new TreeSet<>();
      rows.forEach(r -> models.add(str(r, "model_id")));
      if (models.size() > 1) {
        throw new HeadwiseException(
            "evaluation run '"
                + runId
                + "' holds several models ("
                + String.join(", ", models)
                + "); pass "
                + OptionNames.MODEL
                + " to choose one");
      }
      List<Decision> decisions =
          PublishGate.decide(
              rows.stream().map(PublishJob::evaluation).toList(), planIds, runId, thresholds());
      if (artifactPath != null && decisions.size() != 1) {
        throw new HeadwiseException(
            ARTIFACT
                + " names one plan's artifact, but run '"
                + runId
                + "' has "
                + decisions.size()
                + " plans to gate; pass "
                + OptionNames.PLAN_ID
                + " to choose one");
      }
      List<Warehouse.TableWrite> writes = new ArrayList<>();
      Timestamp now = Timestamp.from(Instant.now());
      int published = 0;
      for (Decision d : decisions) {
        String m = d.evaluation().modelId();
        List<Row> out = new ArrayList<>();
        if (d.publish()) {
          out.add(
              RowFactory.create(
                  m,
                  d.planId(),
                  d.evaluation().method(),
                  runId,
                  PublishGate.gateJson(d, true, runId, thresholds()),
                  artifactPath,
                  now));
          published++;
        }
        writes.add(
            new Warehouse.TableWrite(
                Tables.PUBLISHED_PLANS,
                w.rows(Tables.PUBLISHED_PLANS, out),
                Map.of("model_id", m, "plan_id", d.planId())));
      }
      Map<String, Object> conf = new LinkedHashMap<>();
      conf.put("plan_ids", planIds);
      conf.put("artifact", artifactPath);
      conf.put("thresholds", thresholds().asMap());
      String summary = published + " published, " + (decisions.size() - published) + " held back";
      writes.add(
          RunRecords.write(
              w,
              runId,
              STEP,
              models.first(),
              model.model,
              started,
              conf,
              Map.of(Tables.PUBLISHED_PLANS.name(), (long) published),
              summary));
      w.commit(writes, "headwise publish " + runId);
      for (Decision d : decisions) {
        System.out.println(PublishGate.line(d));
      }
      System.out.println(
          "publish: "
              + summary
              + " (evaluation run "
              + runId
              + ", "
              + w.path(Tables.PUBLISHED_PLANS)
              + ")");
      return failIfHeld && published < decisions.size() ? EXIT_HELD : 0;
    } catch (RuntimeException e) {
      throw SparkErrors.unwrap(e);
    }
  }

  private String artifactPath() {
    if (artifact == null) {
      return null;
    }
    if (artifact.contains("://")) {
      return artifact;
    }
    Path p = Path.of(artifact).toAbsolutePath().normalize();
    if (!Files.exists(p)) {
      throw new HeadwiseException(
          ARTIFACT + " " + artifact + " does not exist; export the plan first");
    }
    return p.toString();
  }

  /** The gate's thresholds as given on the command line. */
  private Thresholds thresholds() {
    return new Thresholds(
        maxKlRatio, maxKl, minTop1, minRepeatRetention, minPasskeyRetention, minCosine);
  }

  /** The fields of an {@code evaluations} row the gate reads. */
  static Evaluation evaluation(Row r) {
    boolean hasMode = Arrays.asList(r.schema().fieldNames()).contains("mode");
    return new Evaluation(
        str(r, "model_id"),
        str(r, "plan_id"),
        str(r, "method"),
        hasMode ? str(r, "mode") : null,
        r.getBoolean(r.fieldIndex("baseline")),
        str(r, "baseline_for"),
        dbl(r, "kl_mean"),
        dbl(r, "top1_agreement"),
        dbl(r, "repeat_accuracy"),
        dbl(r, "dense_repeat_accuracy"),
        dbl(r, "passkey_accuracy"),
        dbl(r, "dense_passkey_accuracy"),
        dbl(r, "cosine_mean"),
        dbl(r, "kv_fraction"),
        dbl(r, "kv_fraction_target"),
        r.getInt(r.fieldIndex("n_samples")));
  }
}
