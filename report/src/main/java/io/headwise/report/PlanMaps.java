package io.headwise.report;

import static io.headwise.report.Html.esc;

import com.fasterxml.jackson.databind.JsonNode;
import io.headwise.schemas.PlanRow;
import java.util.Map;
import java.util.Set;

/**
 * The maps of a plan card: every head coloured by kind and shaded by the span it keeps at the first
 * target length, with its legend; and one heatmap per numeric per-head parameter.
 */
final class PlanMaps {
  /** Per-head parameters that are not drawn as a map (MoA's rule coefficients and rule index). */
  private static final Set<String> NOT_HEATMAPPED = Set.of("moa_alpha", "moa_beta", "rule");

  private PlanMaps() {}

  /** The kind and kept-span map at length {@code n0} with its legend. */
  static void kindMap(
      StringBuilder body, PlanRecord p, ParamsJson.Split params, int n0, String headAxis) {
    body.append("<div><h5>Kind and kept span at N = ")
        .append(n0)
        .append("</h5>")
        .append("<div class=\"scroll\">")
        .append(planMap(p, params, n0, headAxis))
        .append("</div>\n");
    body.append("<div class=\"legend\">");
    Map<String, Integer> counts = ReportContext.kindCounts(p);
    for (Map.Entry<String, String> k : Colors.KINDS.entrySet()) {
      body.append("<span><span class=\"sw\" style=\"background:")
          .append(k.getValue())
          .append("\"></span>")
          .append(esc(k.getKey()))
          .append(" ")
          .append(counts.getOrDefault(k.getKey(), 0))
          .append("</span>");
    }
    body.append(
            "</div><p class=\"desc\">Paler = fewer tokens kept;<br>number = tokens kept at N = ")
        .append(n0)
        .append(".</p></div>\n");
  }

  /** One heatmap per per-head parameter whose values are all numbers (or missing). */
  static void paramMaps(
      StringBuilder body, PlanRecord p, ParamsJson.Split params, String headAxis) {
    for (String key : params.perHeadKeys()) {
      if (NOT_HEATMAPPED.contains(key)) {
        continue;
      }
      double[] values = new double[p.rows().size()];
      boolean numeric = true;
      for (int i = 0; i < values.length; i++) {
        JsonNode v = params.rows().get(i).get(key);
        if (v == null || v.isNull()) {
          values[i] = Double.NaN;
        } else if (v.isNumber()) {
          values[i] = v.doubleValue();
        } else {
          numeric = false;
        }
      }
      if (!numeric) {
        continue;
      }
      ContinuousScale scale = ContinuousScale.over(values);
      HeadGridSvg.Cell[][] cells = new HeadGridSvg.Cell[p.meta().numLayers()][p.headsPerLayer()];
      for (int i = 0; i < values.length; i++) {
        PlanRow r = p.rows().get(i);
        if (r.layer() < cells.length
            && r.head() < cells[r.layer()].length
            && Double.isFinite(values[i])) {
          cells[r.layer()][r.head()] =
              new HeadGridSvg.Cell(
                  scale.color(values[i]),
                  Numbers.compact(values[i]),
                  "layer "
                      + r.layer()
                      + ", "
                      + headAxis
                      + " "
                      + r.head()
                      + "\n"
                      + key
                      + " = "
                      + Numbers.format(values[i], 4)
                      + "\nkind "
                      + r.kind());
        }
      }
      body.append("<div><h5>Per-head <code>")
          .append(esc(key))
          .append("</code></h5><div class=\"scroll\">")
          .append(
              HeadGridSvg.render(
                  "heatmap param-map",
                  key + " of plan " + p.planId(),
                  headAxis,
                  cells,
                  scale,
                  null))
          .append("</div></div>\n");
    }
  }

  private static String planMap(PlanRecord p, ParamsJson.Split params, int n0, String headAxis) {
    HeadGridSvg.Cell[][] cells =
        new HeadGridSvg.Cell[Math.max(0, p.meta().numLayers())][Math.max(0, p.headsPerLayer())];
    for (int i = 0; i < p.rows().size(); i++) {
      PlanRow r = p.rows().get(i);
      if (r.layer() >= cells.length || r.head() >= cells[r.layer()].length) {
        continue;
      }
      double kept = n0 > 0 ? safeKept(r, n0) : Double.NaN;
      double fraction = n0 > 0 ? kept / n0 : 1;
      String fill =
          Colors.shade(
              Colors.kind(r.kind()), r.kind().equals(PlanRow.FULL) ? 1 : 0.28 + 0.72 * fraction);
      StringBuilder tip =
          new StringBuilder(
              "layer " + r.layer() + ", " + headAxis + " " + r.head() + "\n" + spanText(r));
      for (int n : p.meta().targetLengths()) {
        double k = safeKept(r, n);
        tip.append("\nkeeps ")
            .append(Numbers.format(k, 4))
            .append(" of ")
            .append(n)
            .append(" tokens (")
            .append(Numbers.percent(k / n))
            .append(") at N = ")
            .append(n);
      }
      for (String key : params.perHeadKeys()) {
        JsonNode v = params.rows().get(i).get(key);
        if (v != null) {
          tip.append('\n').append(key).append(" = ").append(ParamsJson.text(v));
        }
      }
      cells[r.layer()][r.head()] =
          new HeadGridSvg.Cell(
              fill, Double.isNaN(kept) ? "" : Numbers.integer(Math.round(kept)), tip.toString());
    }
    return HeadGridSvg.render(
        "planmap",
        "plan " + p.planId() + ": head kinds and kept spans",
        headAxis,
        cells,
        null,
        null);
  }

  /** Tokens a head keeps at length {@code n}, NaN when its row cannot say. */
  private static double safeKept(PlanRow r, int n) {
    try {
      return r.keptTokens(n);
    } catch (IllegalStateException e) {
      return Double.NaN;
    }
  }

  private static String spanText(PlanRow r) {
    return switch (r.kind()) {
      case PlanRow.FULL -> "full: keeps every token";
      case PlanRow.BUDGET -> "budget: " + r.budgetTokens() + " tokens chosen by the dynamic policy";
      case PlanRow.STREAMING, PlanRow.ELASTIC ->
          r.kind()
              + ": "
              + r.sinkTokens()
              + " sinks + window alpha "
              + Numbers.format(r.alpha(), 4)
              + " + beta "
              + Numbers.format(r.beta(), 4)
              + " \u00b7 N";
      default -> r.kind();
    };
  }
}
