package io.headwise.report;

import static io.headwise.report.Format.num;
import static io.headwise.report.Html.esc;

import java.time.Instant;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;

/**
 * The plans summary table of section 5: one row per plan with its method, target and expected KV
 * fraction, heads per kind, its role (plan, uniform baseline or Pareto candidate) and a link to its
 * card.
 */
final class PlansTable {
  private PlansTable() {}

  static void render(ReportContext ctx) {
    StringBuilder body = ctx.body();
    ReportData data = ctx.data();
    ctx.subsection("table-plans", "Plans summary", true);
    if (data.plans().isEmpty()) {
      ctx.empty("attention_plans", "plans", "plan");
      return;
    }
    Set<String> allIds = new LinkedHashSet<>();
    data.plans().forEach(p -> allIds.add(p.planId()));
    boolean several = ctx.models().size() > 1;
    body.append("<div class=\"table-wrap\"><table class=\"data plans\"><thead><tr><th>plan_id</th>")
        .append(several ? "<th>model</th>" : "")
        .append(
            "<th>method</th><th>granularity</th><th>stats run</th><th class=\"num\">F (target)</th>"
                + "<th>expected KV fraction</th><th class=\"num\">heads</th>");
    for (String k : Colors.KINDS.keySet()) {
      body.append("<th class=\"num\">").append(esc(k)).append("</th>");
    }
    body.append("<th>role</th><th>created (UTC)</th></tr></thead><tbody>");
    for (PlanRecord p : ctx.sortedPlans()) {
      Map<String, Integer> counts = ReportContext.kindCounts(p);
      String role = ctx.derivedFrom(p, allIds);
      body.append("<tr><td><a href=\"#")
          .append(Html.anchor("plan", p.meta().modelId(), p.planId()))
          .append("\"><code>")
          .append(esc(p.planId()))
          .append("</code></a></td>")
          .append(several ? "<td>" + esc(ctx.model(p.meta().modelId()).label()) + "</td>" : "")
          .append("<td>")
          .append(Format.badge(p.meta().method()))
          .append("</td><td>")
          .append(esc(p.granularity()))
          .append("</td><td>")
          .append(esc(p.meta().statsRunId()))
          .append("</td>")
          .append(num(p.meta().kvFractionTarget()))
          .append("<td>")
          .append(esc(ReportContext.expected(p)))
          .append("</td>")
          .append(num(p.rows().size()));
      for (String k : Colors.KINDS.keySet()) {
        body.append(num(counts.getOrDefault(k, 0)));
      }
      body.append("<td>")
          .append(esc(role == null ? "plan" : role))
          .append("</td><td class=\"date\">")
          .append(Format.dateCell(Instant.ofEpochMilli(p.meta().createdAtMillis())))
          .append("</td></tr>");
    }
    body.append("</tbody></table></div>\n");
  }
}
