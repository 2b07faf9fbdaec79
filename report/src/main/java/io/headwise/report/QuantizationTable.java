package io.headwise.report;

import static io.headwise.report.Format.num;
import static io.headwise.report.Html.esc;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/** The quantization plans table of section 5: one row per quantized layer, as stored. */
final class QuantizationTable {
  private QuantizationTable() {}

  static void render(ReportContext ctx) {
    StringBuilder body = ctx.body();
    ctx.subsection("table-quant", "Quantization plans", true);
    if (ctx.data().quantPlans().isEmpty()) {
      ctx.empty("quant_plans", "quantization plans", "quantize");
      return;
    }
    body.append(
        "<div class=\"table-wrap\"><table class=\"data quant\"><thead><tr><th>model_id</th><th>run_id</th>"
            + "<th>name</th><th>method</th><th class=\"num\">bits</th><th class=\"num\">group_size</th>"
            + "<th>symmetric</th><th>rotated</th><th class=\"num\">in_features</th><th class=\"num\">out_features</th>"
            + "<th class=\"num\">damping</th><th class=\"num\">gptq_loss</th><th class=\"num\">seconds</th>"
            + "<th>params</th></tr></thead><tbody>");
    List<QuantPlanRecord> quant = new ArrayList<>(ctx.data().quantPlans());
    quant.sort(
        Comparator.comparing(QuantPlanRecord::modelId).thenComparing(QuantPlanRecord::runId));
    for (QuantPlanRecord q : quant) {
      body.append("<tr><td><code title=\"")
          .append(esc(q.modelId()))
          .append("\">")
          .append(esc(Format.hashPrefix(q.modelId())))
          .append("</code></td><td>")
          .append(esc(q.runId()))
          .append("</td><td class=\"name\"><code>")
          .append(esc(q.name()))
          .append("</code></td><td>")
          .append(esc(q.method()))
          .append("</td>")
          .append(num(q.bits()))
          .append(num(q.groupSize()))
          .append("<td>")
          .append(q.symmetric() ? "yes" : "no")
          .append("</td><td>")
          .append(q.rotated() ? "yes" : "no")
          .append("</td>")
          .append(num(q.inFeatures()))
          .append(num(q.outFeatures()))
          .append(num(q.damping()))
          .append(num(q.gptqLoss()))
          .append(num(q.seconds()))
          .append("<td class=\"wrap\"><code>")
          .append(esc(Format.summary(q.paramsJson())))
          .append("</code></td></tr>");
    }
    body.append("</tbody></table></div>\n");
  }
}
