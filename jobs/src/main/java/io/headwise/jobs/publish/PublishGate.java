package io.headwise.jobs.publish;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.headwise.jobs.EvaluateJob;
import io.headwise.schemas.HeadwiseException;
import io.headwise.schemas.Json;
import io.headwise.schemas.Tables;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * The publish gate's decision, a pure function of typed evaluation rows and thresholds (no Spark,
 * no warehouse): {@link #decide} picks the plans to gate and runs {@link #checks} on each, {@link
 * #gateJson} and {@link #line} say what was decided. {@code PublishJob} reads the rows from the
 * warehouse and writes the outcome; the rules themselves are documented there.
 */
public final class PublishGate {
  /**
   * Methods the gate never publishes: their evaluations do not measure the method they are named
   * after.
   */
  public static final Set<String> EXPERIMENTAL_METHODS = Set.of("ems");

  /** The reason a check records when its threshold is {@code off}. */
  static final String THRESHOLD_OFF = "threshold off";

  private PublishGate() {}

  /**
   * The fields of one {@code evaluations} row the gate reads (null where the row holds null).
   *
   * @param mode evaluation mode, null for rows from before the mode column existed
   */
  public record Evaluation(
      String modelId,
      String planId,
      String method,
      String mode,
      boolean baseline,
      String baselineFor,
      Double klMean,
      Double top1Agreement,
      Double repeatAccuracy,
      Double denseRepeatAccuracy,
      Double passkeyAccuracy,
      Double densePasskeyAccuracy,
      Double cosineMean,
      Double kvFraction,
      Double kvFractionTarget,
      int nSamples) {
    /**
     * An h2o evaluation of the prefill simulation (mode prefill, or a row from before the mode
     * column existed), whose values are not H2O's own eviction cache's.
     */
    public boolean simulatedH2o() {
      return EvaluateJob.H2O.equals(method) && !Tables.MODE_DECODE.equals(mode);
    }
  }

  /** The gate's thresholds; null means the check is off. */
  public record Thresholds(
      Double maxKlRatio,
      Double maxKl,
      Double minTop1,
      Double minRepeatRetention,
      Double minPasskeyRetention,
      Double minCosine) {
    /** The thresholds by their JSON names, in a fixed order (nulls kept). */
    public Map<String, Double> asMap() {
      Map<String, Double> t = new LinkedHashMap<>();
      t.put("max_kl_ratio", maxKlRatio);
      t.put("max_kl", maxKl);
      t.put("min_top1", minTop1);
      t.put("min_repeat_retention", minRepeatRetention);
      t.put("min_passkey_retention", minPasskeyRetention);
      t.put("min_cosine", minCosine);
      return t;
    }
  }

  /** One check of the gate: applied (value compared with threshold) or skipped with a reason. */
  public record Check(
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

    public boolean applied() {
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
  public record Decision(Evaluation evaluation, Evaluation baseline, List<Check> checks) {
    /** At least one check applied and every applied check passed. */
    public boolean publish() {
      return checks.stream().anyMatch(Check::applied)
          && checks.stream().filter(Check::applied).allMatch(Check::passed);
    }

    public String planId() {
      return evaluation.planId();
    }
  }

  /**
   * Gate decisions for the run's non-baseline rows, restricted to {@code planIds} when given (in
   * their order, duplicates dropped); HeadwiseException when a chosen plan has no row or there is
   * no plan to gate.
   */
  public static List<Decision> decide(
      List<Evaluation> rows, List<String> planIds, String runId, Thresholds thresholds) {
    Map<String, Evaluation> plans = new LinkedHashMap<>();
    Map<String, Evaluation> baselines = new LinkedHashMap<>();
    for (Evaluation r : rows) {
      if (r.baseline()) {
        if (r.baselineFor() != null) {
          baselines.put(r.baselineFor(), r);
        }
      } else {
        plans.put(r.planId(), r);
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
      chosen = List.copyOf(new LinkedHashSet<>(planIds));
    }
    if (chosen.isEmpty()) {
      throw new HeadwiseException(
          "evaluation run '" + runId + "' holds only baseline rows; nothing to publish");
    }
    List<Decision> out = new ArrayList<>();
    for (String p : chosen) {
      Evaluation r = plans.get(p);
      Evaluation b = baselines.get(p);
      out.add(new Decision(r, b, checks(r, b, thresholds)));
    }
    return out;
  }

  /** The gate's checks for one evaluation and its uniform baseline (null when there is none). */
  public static List<Check> checks(Evaluation r, Evaluation baseline, Thresholds t) {
    List<Check> c = new ArrayList<>();
    if (EXPERIMENTAL_METHODS.contains(r.method())) {
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
                  + r.method()
                  + " is experimental (a budget heuristic whose run-time policy headwise does not implement): held back"));
    }
    Double kl = r.klMean();
    if (t.maxKlRatio() == null) {
      c.add(Check.skip("kl_ratio", "<=", null, THRESHOLD_OFF));
    } else if (kl == null) {
      c.add(Check.skip("kl_ratio", "<=", t.maxKlRatio(), "no next-token KL: encoder model"));
    } else if (baseline == null || baseline.klMean() == null) {
      c.add(
          Check.skip(
              "kl_ratio",
              "<=",
              t.maxKlRatio(),
              "no uniform baseline in this run (dense or streamingllm plan,"
                  + " --no-baseline, or a quantized model)"));
    } else {
      double b = baseline.klMean();
      String note =
          "baseline " + baseline.planId() + " kl " + String.format(Locale.ROOT, "%.4g", b);
      double ratio = b > 0 ? kl / b : kl == 0 ? 1.0 : Double.POSITIVE_INFINITY;
      c.add(
          Double.isInfinite(ratio)
              ? new Check(
                  "kl_ratio",
                  "<=",
                  t.maxKlRatio(),
                  null,
                  false,
                  null,
                  note + "; the baseline matches the dense model exactly")
              : Check.of("kl_ratio", "<=", t.maxKlRatio(), ratio, note));
    }
    c.add(absolute("kl", "<=", t.maxKl(), kl, "no next-token KL: encoder model"));
    c.add(
        absolute(
            "top1", ">=", t.minTop1(), r.top1Agreement(), "no top-1 agreement: encoder model"));
    c.add(
        retention(
            "repeat_retention",
            t.minRepeatRetention(),
            r.repeatAccuracy(),
            r.denseRepeatAccuracy(),
            "repeat"));
    c.add(
        retention(
            "passkey_retention",
            t.minPasskeyRetention(),
            r.passkeyAccuracy(),
            r.densePasskeyAccuracy(),
            "passkey"));
    c.add(
        absolute(
            "cosine",
            ">=",
            t.minCosine(),
            r.cosineMean(),
            "no hidden-state cosine: decoder model"));
    return c;
  }

  private static Check absolute(
      String name, String op, Double threshold, Double value, String missing) {
    if (threshold == null) {
      return Check.skip(name, op, null, THRESHOLD_OFF);
    }
    if (value == null) {
      return Check.skip(name, op, threshold, missing);
    }
    return Check.of(name, op, threshold, value, null);
  }

  private static Check retention(
      String name, Double threshold, Double plan, Double dense, String probe) {
    if (threshold == null) {
      return Check.skip(name, ">=", null, THRESHOLD_OFF);
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

  /**
   * The gate JSON stored with a published plan: thresholds, the measured values and each check's
   * outcome.
   */
  public static String gateJson(Decision d, boolean published, String runId, Thresholds t) {
    ObjectNode g = Json.MAPPER.createObjectNode();
    g.put("decision", published ? "published" : "held back");
    g.put("evaluation_run_id", runId);
    g.put("baseline_plan_id", d.baseline() == null ? null : d.baseline().planId());
    g.put("kv_fraction", d.evaluation().kvFraction());
    g.put("kv_fraction_target", d.evaluation().kvFractionTarget());
    g.put("n_samples", d.evaluation().nSamples());
    if (d.evaluation().simulatedH2o()) {
      // the values below come from the prefill simulation, not from H2O's own eviction cache
      g.put("evaluation", EvaluateJob.H2O_SIMULATED);
    }
    g.set("thresholds", Json.MAPPER.valueToTree(t.asMap()));
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

  /** The one line {@code publish} prints for a decision. */
  public static String line(Decision d) {
    List<String> applied = new ArrayList<>();
    List<String> skipped = new ArrayList<>();
    for (Check c : d.checks()) {
      if (c.applied()) {
        applied.add(c.describe());
      } else if (!c.skipped().equals(THRESHOLD_OFF)) {
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
        d.evaluation().simulatedH2o() ? " [values: " + EvaluateJob.H2O_SIMULATED + "]" : "";
    return head
        + body
        + simulated
        + (skipped.isEmpty() ? "" : "; skipped: " + String.join(", ", skipped));
  }
}
