package io.headwise.report;

import static io.headwise.report.Html.esc;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Section 4, Fidelity against KV fraction: per model and held-out sample set, one chart per
 * measured {@link FidelityMetric} with every evaluated plan at the KV fraction it kept and its
 * uniform baseline joined to it, then the {@link BaselineComparison} table.
 */
final class FidelitySection {
  private final ReportContext ctx;
  private final StringBuilder body;

  FidelitySection(ReportContext ctx) {
    this.ctx = ctx;
    this.body = ctx.body();
  }

  void render() {
    ctx.section(
        "fidelity",
        "Fidelity against KV fraction",
        "For each held-out sample set: every evaluated plan at the KV"
            + " fraction it actually kept (x) against its distance to the dense model (y), coloured by method. Each"
            + " plan's uniform StreamingLLM baseline at the same KV budget is a hollow grey diamond joined to it by a"
            + " dashed line. Evaluation runs over the same samples share a chart.");
    List<EvaluationRecord> evals = ctx.data().evaluations();
    if (evals.isEmpty()) {
      ctx.empty("evaluations", "evaluations", "evaluate");
      body.append("</section>\n");
      return;
    }
    Map<String, Map<String, List<EvaluationRecord>>> groups = new LinkedHashMap<>();
    Map<String, Set<String>> withoutKv = new LinkedHashMap<>();
    for (EvaluationRecord e : ctx.sortedEvaluations()) {
      groups.computeIfAbsent(e.modelId(), k -> new LinkedHashMap<>());
      if (e.kvFraction() == null || !Double.isFinite(e.kvFraction())) {
        withoutKv.computeIfAbsent(e.modelId(), k -> new TreeSet<>()).add(e.runId());
        continue;
      }
      groups.get(e.modelId()).computeIfAbsent(sampleSet(e), k -> new ArrayList<>()).add(e);
    }
    for (Map.Entry<String, Map<String, List<EvaluationRecord>>> m : groups.entrySet()) {
      ModelInfo model = ctx.model(m.getKey());
      ctx.subsection(
          Html.anchor("fidelity", model.label()), "Fidelity \u00b7 " + model.label(), true);
      for (Map.Entry<String, List<EvaluationRecord>> g : m.getValue().entrySet()) {
        group(model, g.getKey(), g.getValue());
      }
      Set<String> runs = withoutKv.get(m.getKey());
      if (runs != null) {
        body.append("<p class=\"sub\">Evaluation run")
            .append(runs.size() == 1 ? " " : "s ")
            .append(esc(String.join(", ", runs)))
            .append(" measured no KV fraction (e.g. quantized models); ")
            .append(runs.size() == 1 ? "its rows are" : "their rows are")
            .append(" in the evaluations table.</p>\n");
      }
    }
    body.append("</section>\n");
  }

  /** The charts and baseline table of one model's evaluations over one held-out sample set. */
  private void group(ModelInfo model, String samples, List<EvaluationRecord> rows) {
    Set<String> runs = new LinkedHashSet<>();
    rows.forEach(r -> runs.add(r.runId()));
    body.append("<h4 id=\"")
        .append(Html.anchor("fidelity", model.id(), samples))
        .append("\">Held-out samples: ")
        .append("<code>")
        .append(esc(samples))
        .append("</code></h4>\n<p class=\"sub\">Evaluation run")
        .append(runs.size() == 1 ? " " : "s ")
        .append(esc(String.join(", ", runs)))
        .append(" \u00b7 ")
        .append(rows.get(0).nSamples())
        .append(" samples, ")
        .append(rows.get(0).nPositions())
        .append(" positions</p>\n");
    List<EvaluationRecord> plotted = EvaluationLabels.headlineRows(rows);
    Set<String> notPlotted = new TreeSet<>();
    rows.stream()
        .filter(r -> !plotted.contains(r))
        .forEach(r -> notPlotted.add(r.planId() + " (run " + r.runId() + ")"));
    if (!notPlotted.isEmpty()) {
      body.append(
              "<p class=\"sub\">Plotted through the decode graph, where a plan was measured"
                  + " there; not plotted, in the evaluations table: the prefill simulation of ")
          .append(esc(String.join(", ", notPlotted)))
          .append(".</p>\n");
    }
    List<FidelityMetric> metrics = FidelityMetric.measuredIn(plotted);
    if (metrics.isEmpty()) {
      body.append(
          "<p class=\"empty\">No fidelity metric in these rows (they are in the evaluations table).</p>\n");
      return;
    }
    body.append("<div class=\"cards charts\">\n");
    for (FidelityMetric mt : metrics) {
      chart(mt, plotted);
    }
    body.append("</div>\n");
    BaselineComparison.render(body, plotted, metrics.get(0));
  }

  private void chart(FidelityMetric mt, List<EvaluationRecord> plotted) {
    List<FidelityChartSvg.Point> points = new ArrayList<>();
    for (EvaluationRecord e : plotted) {
      Double y = mt.value().apply(e);
      if (y == null || !Double.isFinite(y)) {
        continue;
      }
      String tip =
          e.planId()
              + " ("
              + EvaluationLabels.evaluatedMethod(e)
              + ", "
              + EvaluationLabels.modeLabel(e)
              + (e.baseline() ? ", uniform baseline of " + e.baselineFor() : "")
              + ")\nrun "
              + e.runId()
              + "\nKV kept "
              + Numbers.format(e.kvFraction())
              + " (target "
              + Numbers.format(e.kvFractionTarget())
              + ")\n"
              + mt.name()
              + " "
              + Numbers.format(y);
      points.add(
          new FidelityChartSvg.Point(
              e.planId(),
              e.method(),
              e.baseline(),
              e.baselineFor(),
              e.runId(),
              e.kvFraction(),
              y,
              tip));
    }
    body.append("<div class=\"card chart\"><h5>")
        .append(esc(mt.title()))
        .append("</h5><p class=\"desc\">")
        .append(esc(mt.description()))
        .append("</p><div class=\"scroll\">")
        .append(
            FidelityChartSvg.render(mt.title() + " against KV fraction kept", mt.axis(), points))
        .append("</div></div>\n");
  }

  /**
   * The held-out sample set of an evaluation: the evaluate run's {@code samples} option, else the
   * run id.
   */
  private String sampleSet(EvaluationRecord e) {
    RunRecord r = ctx.run(e.modelId(), e.runId(), "evaluate");
    if (r != null) {
      JsonNode s = ParamsJson.flat(r.configJson()).get("samples");
      if (s != null && !s.isNull()) {
        return ParamsJson.text(s).replaceAll("^\\[|\\]$", "");
      }
    }
    return "run " + e.runId();
  }
}
