package io.headwise.report;

import static io.headwise.report.Format.num;
import static io.headwise.report.Html.esc;

import java.util.ArrayList;
import java.util.List;

/**
 * The table under a fidelity chart group: each evaluated plan against its uniform StreamingLLM
 * baseline of the same run, on the group's main metric (and the probe accuracies when measured).
 */
final class BaselineComparison {
  private BaselineComparison() {}

  /** A plan's row and its baseline's row of one evaluation run. */
  private record Pair(EvaluationRecord plan, EvaluationRecord baseline) {}

  /** Plan against its uniform baseline, one row per evaluated plan that has one; none: nothing. */
  static void render(StringBuilder body, List<EvaluationRecord> rows, FidelityMetric main) {
    List<Pair> pairs = new ArrayList<>();
    for (EvaluationRecord b : rows) {
      if (!b.baseline() || b.baselineFor() == null) {
        continue;
      }
      for (EvaluationRecord p : rows) {
        if (!p.baseline() && p.planId().equals(b.baselineFor()) && p.runId().equals(b.runId())) {
          pairs.add(new Pair(p, b));
        }
      }
    }
    if (pairs.isEmpty()) {
      return;
    }
    boolean repeat = rows.stream().anyMatch(r -> r.repeatAccuracy() != null);
    boolean passkey = rows.stream().anyMatch(r -> r.passkeyAccuracy() != null);
    body.append(
            "<div class=\"table-wrap\" style=\"margin-top:12px\"><table class=\"data\"><thead><tr><th>plan</th>"
                + "<th>method</th><th>run</th><th class=\"num\">KV kept: plan</th><th class=\"num\">baseline</th>"
                + "<th class=\"num\">")
        .append(esc(main.name()))
        .append(": plan</th><th class=\"num\">baseline</th>");
    if (repeat) {
      body.append("<th class=\"num\">repeat acc: plan</th><th class=\"num\">baseline</th>");
    }
    if (passkey) {
      body.append("<th class=\"num\">passkey acc: plan</th><th class=\"num\">baseline</th>");
    }
    body.append("<th>plan vs uniform baseline (")
        .append(esc(main.name()))
        .append(")</th></tr></thead><tbody>");
    for (Pair pair : pairs) {
      EvaluationRecord p = pair.plan();
      EvaluationRecord b = pair.baseline();
      body.append("<tr><td><code>")
          .append(esc(p.planId()))
          .append("</code></td><td>")
          .append(Format.badge(p.method()))
          .append("</td><td>")
          .append(esc(p.runId()))
          .append("</td>")
          .append(num(p.kvFraction()))
          .append(num(b.kvFraction()))
          .append(num(main.value().apply(p)))
          .append(num(main.value().apply(b)));
      if (repeat) {
        body.append(num(p.repeatAccuracy())).append(num(b.repeatAccuracy()));
      }
      if (passkey) {
        body.append(num(p.passkeyAccuracy())).append(num(b.passkeyAccuracy()));
      }
      body.append("<td>")
          .append(verdict(main.value().apply(p), main.value().apply(b), main.lowerIsBetter()))
          .append("</td></tr>");
    }
    body.append("</tbody></table></div>\n");
  }

  private static String verdict(Double plan, Double baseline, boolean lowerIsBetter) {
    if (plan == null || baseline == null || !Double.isFinite(plan) || !Double.isFinite(baseline)) {
      return Numbers.MISSING;
    }
    if (plan.equals(baseline)) {
      return "same";
    }
    boolean better = lowerIsBetter ? plan < baseline : plan > baseline;
    String rel =
        baseline != 0
            ? " ("
                + (plan > baseline ? "+" : "\u2212")
                + Numbers.percent(Math.abs(plan - baseline) / Math.abs(baseline))
                + ")"
            : "";
    return better
        ? "<span class=\"better\">plan better" + esc(rel) + "</span>"
        : "<span class=\"worse\">baseline better" + esc(rel) + "</span>";
  }
}
