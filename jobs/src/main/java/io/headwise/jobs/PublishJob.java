package io.headwise.jobs;

import static org.apache.spark.sql.functions.col;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.headwise.graph.OnnxModel;
import io.headwise.jobs.cli.Cli;
import io.headwise.jobs.cli.ConfigOption;
import io.headwise.jobs.cli.OptionNames;
import io.headwise.jobs.cli.WarehouseOptions;
import io.headwise.jobs.spark.SparkErrors;
import io.headwise.jobs.spark.SparkSessions;
import io.headwise.jobs.warehouse.RunRecords;
import io.headwise.jobs.warehouse.Warehouse;
import io.headwise.schemas.HeadwiseException;
import io.headwise.schemas.Json;
import io.headwise.schemas.Tables;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
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
 * row only.
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

  /**
   * Methods the gate never publishes: their evaluations do not measure the method they are named
   * after.
   */
  static final java.util.Set<String> EXPERIMENTAL_METHODS = java.util.Set.of("ems");

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

  @Option(
      names = OptionNames.MODEL,
      paramLabel = "PATH",
      description =
          "Only the evaluations of this model (needed when the run holds several models).")
  String model;

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

  /** One check of the gate: applied (value compared with threshold) or skipped with a reason. */
  record Check(
      String name,
      String op,
      Double threshold,
      Double value,
      boolean passed,
      String skipped,
      String note) {
    static Check skip(String name, String op, Double threshold, String reason) {
      return new Check(name, op, threshold, null, false, reason, null);
    }

    static Check of(String name, String op, double threshold, double value, String note) {
      boolean ok =
          !Double.isNaN(value) && (op.equals("<=") ? value <= threshold : value >= threshold);
      return new Check(name, op, threshold, value, ok, null, note);
    }

    boolean applied() {
      return skipped == null;
    }

    String describe() {
      if (!applied()) {
        return name + " (" + skipped + ")";
      }
      if (threshold == null) {
        return name + " (" + note + ")";
      }
      String v = value == null ? "n/a" : String.format(Locale.ROOT, "%.4g", value);
      String t = String.format(Locale.ROOT, "%.4g", threshold);
      return name
          + " "
          + v
          + (passed ? " " + op + " " : " not " + op + " ")
          + t
          + (note == null ? "" : " [" + note + "]");
    }
  }

  /** The decision for one plan. */
  record Decision(Row evaluation, Row baseline, List<Check> checks) {
    boolean publish() {
      return checks.stream().anyMatch(Check::applied)
          && checks.stream().filter(Check::applied).allMatch(Check::passed);
    }

    String planId() {
      return evaluation.getString(evaluation.fieldIndex("plan_id"));
    }
  }

  @Override
  public Integer call() {
    Instant started = Instant.now();
    String modelId = model == null ? null : OnnxModel.load(model).modelId();
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
      List<Decision> decisions = decide(rows);
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
        String m = str(d.evaluation(), "model_id");
        List<Row> out = new ArrayList<>();
        if (d.publish()) {
          out.add(
              RowFactory.create(
                  m,
                  d.planId(),
                  str(d.evaluation(), "method"),
                  runId,
                  gateJson(d, true),
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
      conf.put("thresholds", thresholds());
      String summary = published + " published, " + (decisions.size() - published) + " held back";
      writes.add(
          new Warehouse.TableWrite(
              Tables.RUNS,
              RunRecords.row(
                  w,
                  runId,
                  STEP,
                  models.first(),
                  model,
                  started,
                  conf,
                  Map.of(Tables.PUBLISHED_PLANS.name(), (long) published),
                  summary),
              RunRecords.keys(models.first(), runId, STEP)));
      w.commit(writes, "headwise publish " + runId);
      for (Decision d : decisions) {
        System.out.println(line(d));
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

  /** Gate decisions for the run's non-baseline rows (restricted to {@link #planIds} when given). */
  List<Decision> decide(List<Row> rows) {
    Map<String, Row> plans = new LinkedHashMap<>();
    Map<String, Row> baselines = new LinkedHashMap<>();
    for (Row r : rows) {
      if (r.getBoolean(r.fieldIndex("baseline"))) {
        String of = str(r, "baseline_for");
        if (of != null) {
          baselines.put(of, r);
        }
      } else {
        plans.put(str(r, "plan_id"), r);
      }
    }
    List<String> chosen = new ArrayList<>(plans.keySet());
    if (planIds != null && !planIds.isEmpty()) {
      for (String p : planIds) {
        if (!plans.containsKey(p)) {
          throw new HeadwiseException(
              "plan '"
                  + p
                  + "' has no evaluation in run '"
                  + runId
                  + "' (evaluated: "
                  + String.join(", ", plans.keySet())
                  + ")");
        }
      }
      chosen = List.copyOf(new java.util.LinkedHashSet<>(planIds));
    }
    if (chosen.isEmpty()) {
      throw new HeadwiseException(
          "evaluation run '" + runId + "' holds only baseline rows; nothing to publish");
    }
    List<Decision> out = new ArrayList<>();
    for (String p : chosen) {
      Row r = plans.get(p);
      Row b = baselines.get(p);
      out.add(new Decision(r, b, checks(r, b)));
    }
    return out;
  }

  /** The gate's checks for one evaluation row and its baseline row (may be null). */
  List<Check> checks(Row r, Row baseline) {
    List<Check> c = new ArrayList<>();
    if (EXPERIMENTAL_METHODS.contains(str(r, "method"))) {
      // a failed check with no threshold: the plan is held back whatever else it measured
      c.add(
          new Check(
              "method",
              "not experimental",
              null,
              null,
              false,
              null,
              "method "
                  + str(r, "method")
                  + " is experimental (a budget heuristic whose run-time policy headwise does not implement): held back"));
    }
    Double kl = dbl(r, "kl_mean");
    if (maxKlRatio == null) {
      c.add(Check.skip("kl_ratio", "<=", null, "threshold off"));
    } else if (kl == null) {
      c.add(Check.skip("kl_ratio", "<=", maxKlRatio, "no next-token KL: encoder model"));
    } else if (baseline == null || dbl(baseline, "kl_mean") == null) {
      c.add(
          Check.skip(
              "kl_ratio",
              "<=",
              maxKlRatio,
              "no uniform baseline in this run (dense or streamingllm plan,"
                  + " --no-baseline, or a quantized model)"));
    } else {
      double b = dbl(baseline, "kl_mean");
      String note =
          "baseline " + str(baseline, "plan_id") + " kl " + String.format(Locale.ROOT, "%.4g", b);
      double ratio = b > 0 ? kl / b : kl == 0 ? 1.0 : Double.POSITIVE_INFINITY;
      c.add(
          Double.isInfinite(ratio)
              ? new Check(
                  "kl_ratio",
                  "<=",
                  maxKlRatio,
                  null,
                  false,
                  null,
                  note + "; the baseline matches the dense model exactly")
              : Check.of("kl_ratio", "<=", maxKlRatio, ratio, note));
    }
    c.add(absolute("kl", "<=", maxKl, kl, "no next-token KL: encoder model"));
    c.add(
        absolute(
            "top1", ">=", minTop1, dbl(r, "top1_agreement"), "no top-1 agreement: encoder model"));
    c.add(
        retention(
            "repeat_retention",
            minRepeatRetention,
            dbl(r, "repeat_accuracy"),
            dbl(r, "dense_repeat_accuracy"),
            "repeat"));
    c.add(
        retention(
            "passkey_retention",
            minPasskeyRetention,
            dbl(r, "passkey_accuracy"),
            dbl(r, "dense_passkey_accuracy"),
            "passkey"));
    c.add(
        absolute(
            "cosine",
            ">=",
            minCosine,
            dbl(r, "cosine_mean"),
            "no hidden-state cosine: decoder model"));
    return c;
  }

  private static Check absolute(
      String name, String op, Double threshold, Double value, String missing) {
    if (threshold == null) {
      return Check.skip(name, op, null, "threshold off");
    }
    if (value == null) {
      return Check.skip(name, op, threshold, missing);
    }
    return Check.of(name, op, threshold, value, null);
  }

  private static Check retention(
      String name, Double threshold, Double plan, Double dense, String probe) {
    if (threshold == null) {
      return Check.skip(name, ">=", null, "threshold off");
    }
    if (plan == null || dense == null) {
      return Check.skip(
          name,
          ">=",
          threshold,
          "not measured: needs a decoder and " + probe + " probes among the held-out samples");
    }
    if (!(dense > 0)) {
      return Check.skip(
          name, ">=", threshold, "the dense model scores 0 on the " + probe + " probes");
    }
    return Check.of(
        name,
        ">=",
        threshold,
        plan / dense,
        String.format(Locale.ROOT, "plan %.4g, dense %.4g", plan, dense));
  }

  private Map<String, Double> thresholds() {
    Map<String, Double> t = new LinkedHashMap<>();
    t.put("max_kl_ratio", maxKlRatio);
    t.put("max_kl", maxKl);
    t.put("min_top1", minTop1);
    t.put("min_repeat_retention", minRepeatRetention);
    t.put("min_passkey_retention", minPasskeyRetention);
    t.put("min_cosine", minCosine);
    return t;
  }

  /**
   * The gate JSON stored with a published plan: thresholds, the measured values and each check's
   * outcome.
   */
  String gateJson(Decision d, boolean published) {
    ObjectNode g = Json.MAPPER.createObjectNode();
    g.put("decision", published ? "published" : "held back");
    g.put("evaluation_run_id", runId);
    g.put("baseline_plan_id", d.baseline() == null ? null : str(d.baseline(), "plan_id"));
    g.put("kv_fraction", dbl(d.evaluation(), "kv_fraction"));
    g.put("kv_fraction_target", dbl(d.evaluation(), "kv_fraction_target"));
    g.put("n_samples", d.evaluation().getInt(d.evaluation().fieldIndex("n_samples")));
    if (simulatedH2o(d.evaluation())) {
      // the values below come from the prefill simulation, not from H2O's own eviction cache
      g.put("evaluation", EvaluateJob.H2O_SIMULATED);
    }
    g.set("thresholds", Json.MAPPER.valueToTree(thresholds()));
    ArrayNode checks = g.putArray("checks");
    for (Check c : d.checks()) {
      ObjectNode n = checks.addObject();
      n.put("name", c.name());
      n.put("op", c.op());
      n.put("threshold", c.threshold());
      if (c.applied()) {
        n.put("value", c.value() == null || !Double.isFinite(c.value()) ? null : c.value());
        n.put("passed", c.passed());
        if (c.note() != null) {
          n.put("note", c.note());
        }
      } else {
        n.put("skipped", c.skipped());
      }
    }
    return g.toString();
  }

  private String line(Decision d) {
    List<String> applied = new ArrayList<>();
    List<String> skipped = new ArrayList<>();
    for (Check c : d.checks()) {
      if (c.applied()) {
        applied.add(c.describe());
      } else if (!c.skipped().equals("threshold off")) {
        skipped.add(c.describe());
      }
    }
    String head =
        d.publish()
            ? "publish: published " + d.planId() + ": "
            : "publish: held back " + d.planId() + ": ";
    String body =
        applied.isEmpty()
            ? "no threshold applies to what was measured"
            : String.join(", ", applied);
    String simulated =
        simulatedH2o(d.evaluation()) ? " [values: " + EvaluateJob.H2O_SIMULATED + "]" : "";
    return head
        + body
        + simulated
        + (skipped.isEmpty() ? "" : "; skipped: " + String.join(", ", skipped));
  }

  /**
   * An h2o evaluation of the prefill simulation (mode prefill, or a row from before the mode column
   * existed), whose values are not H2O's own eviction cache's.
   */
  static boolean simulatedH2o(Row r) {
    if (!EvaluateJob.H2O.equals(str(r, "method"))) {
      return false;
    }
    boolean hasMode = java.util.Arrays.asList(r.schema().fieldNames()).contains("mode");
    return !hasMode || !io.headwise.schemas.Tables.MODE_DECODE.equals(str(r, "mode"));
  }

  private static String str(Row r, String field) {
    int i = r.fieldIndex(field);
    return r.isNullAt(i) ? null : r.getString(i);
  }

  private static Double dbl(Row r, String field) {
    int i = r.fieldIndex(field);
    return r.isNullAt(i) ? null : r.getDouble(i);
  }
}
