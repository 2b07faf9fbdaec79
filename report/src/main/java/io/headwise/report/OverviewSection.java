package io.headwise.report;

import static io.headwise.report.Format.num;
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
 * Section 1, Overview: the models, every step run that wrote to the warehouse (lineage from the
 * {@code runs} table), and the software versions those runs used.
 */
final class OverviewSection {
  private final ReportContext ctx;
  private final ReportData data;
  private final StringBuilder body;

  OverviewSection(ReportContext ctx) {
    this.ctx = ctx;
    this.data = ctx.data();
    this.body = ctx.body();
  }

  void render() {
    ctx.section(
        "overview",
        "Overview",
        "The models in this warehouse, every step run that wrote to it (lineage from the"
            + " runs table), and the software versions the runs used.");
    models();
    runs();
    versions();
    if (!data.missingTables().isEmpty()) {
      body.append("<p class=\"sub\">Tables not found under this warehouse yet: ")
          .append(esc(String.join(", ", new TreeSet<>(data.missingTables()))))
          .append(".</p>\n");
    }
    body.append("</section>\n");
  }

  private void models() {
    ctx.subsection("models", "Models", true);
    if (ctx.models().isEmpty()) {
      body.append("<p class=\"empty\">No models.</p>\n");
      return;
    }
    body.append(
        "<div class=\"table-wrap\"><table class=\"data\"><thead><tr><th>model</th><th>model id</th>"
            + "<th>source</th><th class=\"num\">layers</th><th class=\"num\">heads</th><th class=\"num\">kv heads</th>"
            + "<th>stats runs</th><th class=\"num\">plans</th><th>evaluation runs</th></tr></thead><tbody>");
    for (ModelInfo m : ctx.models()) {
      Set<String> statsRuns = new TreeSet<>();
      data.headStats().stream()
          .filter(s -> s.modelId().equals(m.id()))
          .forEach(s -> statsRuns.add(s.runId()));
      long plans = data.plans().stream().filter(p -> p.meta().modelId().equals(m.id())).count();
      Set<String> evals = new TreeSet<>();
      data.evaluations().stream()
          .filter(e -> e.modelId().equals(m.id()))
          .forEach(e -> evals.add(e.runId()));
      body.append("<tr><td>")
          .append(esc(m.source() == null ? "model" : Format.fileName(m.source())))
          .append("</td><td>")
          .append("<code title=\"")
          .append(esc(m.id()))
          .append("\">")
          .append(esc(Format.shortId(m.id())))
          .append("</code></td><td class=\"wrap\"><code>")
          .append(esc(m.source() == null ? Numbers.MISSING : m.source()))
          .append("</code></td>")
          .append(num(m.layers()))
          .append(num(m.heads()))
          .append(num(m.kvHeads()))
          .append("<td class=\"wrap\">")
          .append(esc(String.join(", ", statsRuns)))
          .append("</td>")
          .append(num(plans))
          .append("<td class=\"wrap\">")
          .append(esc(String.join(", ", evals)))
          .append("</td></tr>");
    }
    body.append("</tbody></table></div>\n");
  }

  private void runs() {
    ctx.subsection("runs", "Runs (lineage)", true);
    if (data.runs().isEmpty()) {
      ctx.empty("runs", "runs", "profile");
      return;
    }
    boolean several = ctx.models().size() > 1;
    body.append(
            "<div class=\"table-wrap tall\"><table class=\"data runs\"><thead><tr><th>step</th><th>run id</th>")
        .append(several ? "<th>model</th>" : "")
        .append(
            "<th>started</th><th class=\"num\">took</th>"
                + "<th>status</th><th>config</th><th>rows written</th><th>message</th></tr></thead><tbody>");
    for (RunRecord r : ctx.sortedRuns()) {
      body.append("<tr><td>")
          .append(esc(r.step()))
          .append("</td><td><code>")
          .append(esc(r.runId()))
          .append("</code></td>")
          .append(several ? "<td>" + esc(ctx.model(r.modelId()).label()) + "</td>" : "")
          .append("<td>")
          .append(esc(Format.time(r.startedAt())))
          .append("</td><td class=\"num\">")
          .append(esc(Format.took(r)))
          .append("</td><td>")
          .append(esc(r.status()))
          .append("</td><td class=\"wrap config\"><code>")
          .append(esc(Format.summary(r.configJson())))
          .append("</code></td><td class=\"wrap\">")
          .append(esc(Format.summary(r.rowCountsJson())))
          .append("</td><td class=\"wrap\">")
          .append(esc(r.message()))
          .append("</td></tr>");
    }
    body.append("</tbody></table></div>\n");
  }

  private void versions() {
    ctx.subsection("versions", "Versions", true);
    Map<String, List<RunRecord>> byVersions = new LinkedHashMap<>();
    for (RunRecord r : ctx.sortedRuns()) {
      byVersions
          .computeIfAbsent(r.versionsJson() == null ? "" : r.versionsJson(), k -> new ArrayList<>())
          .add(r);
    }
    if (byVersions.isEmpty()) {
      body.append("<p class=\"empty\">No lineage yet, so no recorded versions.</p>\n");
      return;
    }
    Set<String> keys = new LinkedHashSet<>();
    byVersions.keySet().forEach(v -> keys.addAll(ParamsJson.flat(v).keySet()));
    body.append("<div class=\"table-wrap\"><table class=\"data\"><thead><tr>");
    keys.forEach(k -> body.append("<th>").append(esc(k)).append("</th>"));
    body.append("<th>used by</th></tr></thead><tbody>");
    for (Map.Entry<String, List<RunRecord>> e : byVersions.entrySet()) {
      Map<String, JsonNode> v = ParamsJson.flat(e.getKey());
      body.append("<tr>");
      keys.forEach(k -> body.append("<td>").append(esc(ParamsJson.text(v.get(k)))).append("</td>"));
      List<String> users = e.getValue().stream().map(r -> r.step() + " " + r.runId()).toList();
      body.append("<td class=\"wrap\">")
          .append(
              esc(
                  users.size()
                      + " run"
                      + (users.size() == 1 ? "" : "s")
                      + ": "
                      + String.join(", ", users)))
          .append("</td></tr>");
    }
    body.append("</tbody></table></div>\n");
  }
}
