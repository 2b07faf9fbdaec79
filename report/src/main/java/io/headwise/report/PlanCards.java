package io.headwise.report;

import static io.headwise.report.Html.esc;

import com.fasterxml.jackson.databind.JsonNode;
import io.headwise.schemas.PlanRow;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Section 3, Plans: one card per KV-cache plan with its facts (method, sizes, expected and measured
 * KV fraction, the plan-level parameters worth a glance) next to its maps ({@link PlanMaps}).
 * Uniform baselines and Pareto candidates are folded away under each model.
 */
final class PlanCards {
  /** Plan-level parameters shown in the facts table first, in this order, when a plan has them. */
  private static final List<String> HIGHLIGHTS =
      List.of(
          "solver.status",
          "solver.relative_gap",
          "solver.objective",
          "solver.best_bound",
          "solver.wall_seconds",
          "pareto_candidates",
          "retrieval_heads",
          "retrieval_share",
          "threshold",
          "induction_heads",
          "echo_heads",
          "sink_size",
          "recent_size",
          "start_size",
          "sink_tokens",
          "window_mode",
          "kept_ratio",
          "local_window",
          "heavy_ratio",
          "recent_ratio",
          "heavy_budget_tokens",
          "recent_budget_tokens",
          "cost_statistic",
          "kv_fraction_within_tolerance");

  private static final int MAX_HIGHLIGHTS = 10;

  private final ReportContext ctx;
  private final ReportData data;
  private final StringBuilder body;

  PlanCards(ReportContext ctx) {
    this.ctx = ctx;
    this.data = ctx.data();
    this.body = ctx.body();
  }

  void render() {
    ctx.section(
        "plans",
        "Plans",
        "One card per KV-cache plan: each cell is a head (kv head or query head, as the plan's"
            + " granularity says), coloured by kind and shaded by the share of the sequence it keeps at the plan's first"
            + " target length; the number is the tokens it keeps there. Uniform baselines written by evaluate and MoA"
            + " Pareto candidates are folded away under each model.");
    if (data.plans().isEmpty()) {
      ctx.empty("attention_plans", "plans", "plan");
      body.append("</section>\n");
      return;
    }
    Map<String, List<PlanRecord>> byModel = new LinkedHashMap<>();
    for (PlanRecord p : ctx.sortedPlans()) {
      byModel.computeIfAbsent(p.meta().modelId(), k -> new ArrayList<>()).add(p);
    }
    for (Map.Entry<String, List<PlanRecord>> e : byModel.entrySet()) {
      ModelInfo m = ctx.model(e.getKey());
      ctx.subsection(Html.anchor("plans", m.label()), "Plans \u00b7 " + m.label(), true);
      Set<String> ids = new LinkedHashSet<>();
      e.getValue().forEach(p -> ids.add(p.planId()));
      List<PlanRecord> primary = new ArrayList<>();
      List<PlanRecord> derived = new ArrayList<>();
      for (PlanRecord p : e.getValue()) {
        (ctx.derivedFrom(p, ids) == null ? primary : derived).add(p);
      }
      body.append("<div class=\"cards wide\">\n");
      primary.forEach(p -> planCard(p, null));
      body.append("</div>\n");
      if (!derived.isEmpty()) {
        body.append("<details class=\"derived\"><summary>Uniform baselines and Pareto candidates (")
            .append(derived.size())
            .append(")</summary>\n<div class=\"cards wide\">\n");
        derived.forEach(p -> planCard(p, ctx.derivedFrom(p, ids)));
        body.append("</div></details>\n");
      }
    }
    body.append("</section>\n");
  }

  private void planCard(PlanRecord p, String role) {
    ParamsJson.Split params = ParamsJson.split(p.rows().stream().map(PlanRow::paramsJson).toList());
    int n0 = p.meta().targetLengths().isEmpty() ? 0 : p.meta().targetLengths().get(0);
    String headAxis = PlanRow.QUERY_HEAD.equals(p.granularity()) ? "head" : "kv head";
    body.append("<div class=\"card plan\" id=\"")
        .append(Html.anchor("plan", p.meta().modelId(), p.planId()))
        .append("\">\n<div class=\"plan-head\"><h4><code>")
        .append(esc(p.planId()))
        .append("</code></h4>")
        .append(Format.badge(p.meta().method()));
    if (role != null) {
      body.append("<span class=\"badge role\">").append(esc(role)).append("</span>");
    }
    body.append(
        "</div>\n<div class=\"plan-body\"><div class=\"plan-facts\"><table class=\"facts\">");
    facts(p, params, headAxis);
    body.append("</table>\n");
    for (Map.Entry<String, JsonNode> e : params.planLevel().entrySet()) {
      if (e.getKey().endsWith("_note")) {
        body.append("<p class=\"note\"><b>")
            .append(esc(e.getKey()))
            .append(":</b> ")
            .append(esc(ParamsJson.text(e.getValue())))
            .append("</p>\n");
      }
    }
    if (!params.planLevel().isEmpty()) {
      body.append("<details><summary>All parameters (")
          .append(params.planLevel().size())
          .append(" shared by every" + " head")
          .append(
              params.perHeadKeys().isEmpty()
                  ? ""
                  : "; per head: " + esc(String.join(", ", params.perHeadKeys())))
          .append(")</summary><table class=\"facts\">");
      params.planLevel().forEach((k, v) -> fact(k, esc(ParamsJson.text(v))));
      body.append("</table></details>\n");
    }
    body.append("</div>\n<div class=\"plan-maps\">");
    PlanMaps.kindMap(body, p, params, n0, headAxis);
    PlanMaps.paramMaps(body, p, params, headAxis);
    body.append("</div></div>\n</div>\n");
  }

  /** The rows of the card's facts table. */
  private void facts(PlanRecord p, ParamsJson.Split params, String headAxis) {
    fact("stats run", "<code>" + esc(p.meta().statsRunId()) + "</code>");
    fact(
        "heads",
        esc(
            p.meta().numLayers()
                + " layers \u00d7 "
                + p.headsPerLayer()
                + " "
                + headAxis
                + "s ("
                + p.meta().numHeads()
                + " query heads, "
                + p.meta().numKvHeads()
                + " kv heads)"));
    fact("target KV fraction", esc(Numbers.format(p.meta().kvFractionTarget())));
    fact("expected KV fraction", esc(ReportContext.expected(p)));
    fact(
        "heads by kind",
        esc(
            ReportContext.kindCounts(p).entrySet().stream()
                .map(k -> k.getKey() + " " + k.getValue())
                .reduce((a, b) -> a + " \u00b7 " + b)
                .orElse(Numbers.MISSING)));
    // decode-graph measurements first: they are what the plan's caches really do
    for (boolean decoded : new boolean[] {true, false}) {
      for (EvaluationRecord e : data.evaluations()) {
        if (e.decoded() == decoded
            && e.planId().equals(p.planId())
            && e.modelId().equals(p.meta().modelId())) {
          fact(
              "evaluated ("
                  + e.runId()
                  + ", "
                  + EvaluationLabels.modeLabel(e)
                  + ("h2o".equals(e.method()) && !decoded ? ", not H2O's own eviction" : "")
                  + ")",
              esc(evaluationSummary(e)));
        }
      }
    }
    int shown = 0;
    List<String> keys = new ArrayList<>();
    for (String k : HIGHLIGHTS) {
      if (params.planLevel().containsKey(k)) {
        keys.add(k);
      }
    }
    for (String k : params.planLevel().keySet()) {
      if (!keys.contains(k) && !k.endsWith("_note")) {
        keys.add(k);
      }
    }
    for (String k : keys) {
      JsonNode v = params.planLevel().get(k);
      if (shown < MAX_HIGHLIGHTS && ParamsJson.isShortScalar(v)) {
        fact(k, esc(ParamsJson.text(v)));
        shown++;
      }
    }
    fact("created", esc(Format.time(Instant.ofEpochMilli(p.meta().createdAtMillis()))));
  }

  private void fact(String name, String valueHtml) {
    body.append("<tr><th>")
        .append(esc(name))
        .append("</th><td>")
        .append(valueHtml)
        .append("</td></tr>");
  }

  private static String evaluationSummary(EvaluationRecord e) {
    List<String> parts = new ArrayList<>();
    parts.add("KV kept " + Numbers.format(e.kvFraction()));
    if (e.klMean() != null) {
      parts.add("KL " + Numbers.format(e.klMean()));
    }
    if (e.top1Agreement() != null) {
      parts.add("top-1 " + Numbers.format(e.top1Agreement()));
    }
    if (e.repeatAccuracy() != null) {
      parts.add("repeat acc " + Numbers.format(e.repeatAccuracy()));
    }
    if (e.passkeyAccuracy() != null) {
      parts.add("passkey acc " + Numbers.format(e.passkeyAccuracy()));
    }
    if (e.cosineMean() != null) {
      parts.add("cosine " + Numbers.format(e.cosineMean()));
    }
    return String.join(" \u00b7 ", parts);
  }
}
