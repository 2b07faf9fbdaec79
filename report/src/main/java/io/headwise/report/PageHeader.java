package io.headwise.report;

import static io.headwise.report.Html.esc;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The top of the page: warehouse, time, versions, filters and counts as chips; and the table of
 * contents the sections filled. Written after the sections, so it sees every entry they added.
 */
final class PageHeader {
  private PageHeader() {}

  static void header(StringBuilder html, ReportContext ctx) {
    ReportData data = ctx.data();
    long statsRuns =
        data.headStats().stream().map(s -> s.modelId() + "\u0000" + s.runId()).distinct().count();
    long evalRuns =
        data.evaluations().stream().map(e -> e.modelId() + "\u0000" + e.runId()).distinct().count();
    html.append("<header class=\"top\"><div class=\"inner\">\n<h1>headwise report</h1>\n");
    html.append("<p>Warehouse <code>")
        .append(esc(data.warehouse()))
        .append("</code> \u00b7 generated ")
        .append(esc(Format.time(data.generatedAt())))
        .append("</p>\n");
    Map<String, JsonNode> v = ParamsJson.flat(data.reportVersionsJson());
    if (!v.isEmpty()) {
      List<String> parts = new ArrayList<>();
      v.forEach((k, x) -> parts.add(k + " " + ParamsJson.text(x)));
      html.append("<p>Report built with ")
          .append(esc(String.join(" \u00b7 ", parts)))
          .append("</p>\n");
    }
    if (data.filters() != null && !data.filters().isBlank()) {
      html.append("<p>Filtered: ").append(esc(data.filters())).append("</p>\n");
    }
    html.append("<div class=\"chips\">");
    chip(html, ctx.models().size(), "model", "models");
    chip(html, data.runs().size(), "run", "runs");
    chip(html, statsRuns, "stats run", "stats runs");
    chip(html, data.plans().size(), "plan", "plans");
    chip(html, evalRuns, "evaluation run", "evaluation runs");
    if (!data.quantPlans().isEmpty()) {
      chip(html, data.quantPlans().size(), "quantized layer", "quantized layers");
    }
    html.append("</div>\n</div></header>\n");
  }

  private static void chip(StringBuilder html, long n, String one, String many) {
    html.append("<span class=\"chip\"><b>")
        .append(n)
        .append("</b> ")
        .append(n == 1 ? one : many)
        .append("</span>");
  }

  static void tableOfContents(StringBuilder html, List<ReportContext.TocEntry> toc) {
    html.append("<nav class=\"toc\"><h2>Contents</h2><ol>");
    boolean open = false;
    for (ReportContext.TocEntry e : toc) {
      if (e.level() == 1) {
        if (open) {
          html.append("</ol></li>");
        }
        html.append("<li><a href=\"#")
            .append(e.anchor())
            .append("\">")
            .append(esc(e.text()))
            .append("</a><ol>");
        open = true;
      } else {
        html.append("<li><a href=\"#")
            .append(e.anchor())
            .append("\">")
            .append(esc(e.text()))
            .append("</a></li>");
      }
    }
    if (open) {
      html.append("</ol></li>");
    }
    html.append("</ol></nav>\n");
  }
}
