package io.headwise.report;

import static io.headwise.report.Html.esc;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * The evaluations table of section 5, as stored: one row per evaluation row; columns no row has a
 * value in are named under the table instead of shown empty.
 */
final class EvaluationsTable {
  /**
   * A column of the evaluations table: name, right-aligned or not, and the cell's HTML (null when
   * empty).
   */
  private record Column(String name, boolean numeric, Function<EvaluationRecord, String> cell) {}

  private static final List<Column> COLUMNS =
      List.of(
          new Column(
              "model_id",
              false,
              e ->
                  "<code title=\""
                      + esc(e.modelId())
                      + "\">"
                      + esc(Format.hashPrefix(e.modelId()))
                      + "</code>"),
          new Column("run_id", false, e -> esc(e.runId())),
          new Column("plan_id", false, e -> "<code>" + esc(e.planId()) + "</code>"),
          new Column("method", false, e -> esc(EvaluationLabels.evaluatedMethod(e))),
          new Column("mode", false, e -> esc(EvaluationLabels.modeLabel(e))),
          new Column("baseline", false, e -> e.baseline() ? "yes" : "no"),
          new Column(
              "baseline_for", false, e -> e.baselineFor() == null ? null : esc(e.baselineFor())),
          metric("kv_fraction_target", EvaluationRecord::kvFractionTarget),
          metric("kv_fraction", EvaluationRecord::kvFraction),
          new Column("n_samples", true, e -> String.valueOf(e.nSamples())),
          new Column("n_positions", true, e -> String.valueOf(e.nPositions())),
          metric("kl_mean", EvaluationRecord::klMean),
          metric("top1_agreement", EvaluationRecord::top1Agreement),
          metric("nll_delta", EvaluationRecord::nllDelta),
          metric("repeat_accuracy", EvaluationRecord::repeatAccuracy),
          metric("dense_repeat_accuracy", EvaluationRecord::denseRepeatAccuracy),
          metric("passkey_accuracy", EvaluationRecord::passkeyAccuracy),
          metric("dense_passkey_accuracy", EvaluationRecord::densePasskeyAccuracy),
          metric("cosine_mean", EvaluationRecord::cosineMean),
          new Column(
              "created_at (UTC)",
              false,
              e -> e.createdAt() == null ? null : Format.dateCell(e.createdAt())));

  private EvaluationsTable() {}

  private static Column metric(String name, Function<EvaluationRecord, Double> value) {
    return new Column(
        name, true, e -> value.apply(e) == null ? null : esc(Numbers.format(value.apply(e))));
  }

  static void render(ReportContext ctx) {
    StringBuilder body = ctx.body();
    ctx.subsection("table-evaluations", "Evaluations", true);
    if (ctx.data().evaluations().isEmpty()) {
      ctx.empty("evaluations", "evaluations", "evaluate");
      return;
    }
    List<EvaluationRecord> rows = ctx.sortedEvaluations();
    List<Column> shown = new ArrayList<>();
    List<String> blank = new ArrayList<>();
    for (Column c : COLUMNS) {
      if (rows.stream().anyMatch(e -> c.cell().apply(e) != null)) {
        shown.add(c);
      } else {
        blank.add(c.name());
      }
    }
    body.append("<div class=\"table-wrap\"><table class=\"data evaluations\"><thead><tr>");
    for (Column c : shown) {
      body.append(c.numeric() ? "<th class=\"num\">" : "<th>")
          .append(esc(c.name()).replace("_", "_<wbr>"))
          .append("</th>");
    }
    body.append("</tr></thead><tbody>");
    for (EvaluationRecord e : rows) {
      body.append("<tr>");
      for (Column c : shown) {
        String v = c.cell().apply(e);
        body.append(
                c.numeric()
                    ? "<td class=\"num\">"
                    : c.name().startsWith("created") ? "<td class=\"date\">" : "<td>")
            .append(v == null ? Numbers.MISSING : v)
            .append("</td>");
      }
      body.append("</tr>");
    }
    body.append("</tbody></table></div>\n");
    if (!blank.isEmpty()) {
      body.append(
              "<p class=\"sub\">Columns with no value in any row (not measured for these models or samples):"
                  + " ")
          .append(esc(String.join(", ", blank)))
          .append(".</p>\n");
    }
  }
}
