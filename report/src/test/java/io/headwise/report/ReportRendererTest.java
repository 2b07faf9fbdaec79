package io.headwise.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.w3c.dom.Element;

/**
 * The renderer on hand-built records: heatmaps, legends, plan maps, fidelity charts, escaping,
 * offline HTML.
 */
class ReportRendererTest {
  private static final String HTML = ReportRenderer.render(SampleReports.full(32, 32, 8));

  /**
   * Evaluations name what they measured: an h2o number is the prefill simulation, not H2O's own
   * eviction cache, and ems is experimental; the rendered report carries the ems label.
   */
  @Test
  void evaluationsOfSimulatedAndExperimentalMethodsAreLabelled() {
    assertEquals(
        "h2o (simulated per query, not H2O's eviction)",
        EvaluationLabels.evaluatedMethod(record("h2o", "prefill")));
    assertEquals("h2o", EvaluationLabels.evaluatedMethod(record("h2o", "decode")));
    assertEquals("ems (experimental)", EvaluationLabels.evaluatedMethod(record("ems", "prefill")));
    assertEquals("moa", EvaluationLabels.evaluatedMethod(record("moa", "prefill")));
    assertTrue(HTML.contains("ems (experimental)"), "the sample report evaluates an ems plan");
  }

  private static EvaluationRecord record(String method, String mode) {
    return new EvaluationRecord(
        "m",
        "e",
        "p",
        method,
        mode,
        false,
        null,
        0.5,
        0.5,
        1,
        1L,
        0.1,
        0.9,
        0.1,
        null,
        null,
        null,
        null,
        null,
        java.time.Instant.EPOCH);
  }

  @Test
  void everySvgIsWellFormedXml() throws Exception {
    List<Element> svgs = SvgParts.parseAll(HTML);
    assertTrue(svgs.size() > 20, "svgs " + svgs.size());
    for (Element svg : svgs) {
      assertEquals("svg", svg.getTagName());
      assertTrue(Integer.parseInt(svg.getAttribute("width")) > 0);
      assertTrue(svg.getAttribute("viewBox").startsWith("0 0 "));
    }
  }

  @Test
  void statHeatmapHasOneTitledCellPerHeadAndFitsNarrowCards() throws Exception {
    Element entropy = svg("entropy_mean by layer and head, bucket 1024");
    List<Element> cells = cells(entropy);
    assertEquals(32 * 32, cells.size());
    assertTrue(
        SvgParts.title(cells.get(0)).contains("layer 0, head 0"), SvgParts.title(cells.get(0)));
    assertTrue(SvgParts.title(cells.get(0)).contains("entropy_mean = "));
    // 32 heads shrink the cells: the whole map stays under 400 px wide and tall
    assertTrue(
        Integer.parseInt(entropy.getAttribute("width")) <= 400, entropy.getAttribute("width"));
    assertTrue(
        Integer.parseInt(entropy.getAttribute("height")) <= 420, entropy.getAttribute("height"));
    // a small model keeps large cells with their value written in
    String small = ReportRenderer.render(SampleReports.full(5, 8, 4));
    Element smallMap =
        SvgParts.parseAll(small).stream()
            .filter(
                e ->
                    e.getAttribute("aria-label")
                        .equals("entropy_mean by layer and head, bucket 1024"))
            .findFirst()
            .orElseThrow();
    assertEquals(5 * 8, cells(smallMap).size());
    assertEquals(5 * 8, SvgParts.find(smallMap, "text", "cell").size());
  }

  @Test
  void heatmapLegendSpansTheValueRange() throws Exception {
    Element entropy = svg("entropy_mean by layer and head, bucket 1024");
    List<Element> legend = SvgParts.find(entropy, "g", "legend");
    assertEquals(1, legend.size());
    List<Element> swatches = SvgParts.find(legend.get(0), "rect", null);
    assertTrue(swatches.size() >= 20, "legend swatches " + swatches.size());
    assertEquals(Colors.viridis(0.5 / 40), swatches.get(0).getAttribute("fill"));
    double min = Double.POSITIVE_INFINITY;
    double max = Double.NEGATIVE_INFINITY;
    for (var s : SampleReports.full(32, 32, 8).headStats()) {
      if (s.stat().equals("entropy_mean") && s.lengthBucket() == 1024) {
        min = Math.min(min, s.value());
        max = Math.max(max, s.value());
      }
    }
    List<String> ticks =
        SvgParts.find(legend.get(0), "text", "tick").stream().map(Element::getTextContent).toList();
    assertEquals(
        List.of(Numbers.format(min, 3), Numbers.format((min + max) / 2, 3), Numbers.format(max, 3)),
        ticks);
  }

  @Test
  void bothBucketsHaveSectionsMostQueriedFirst() {
    int big = HTML.indexOf("Length bucket 1024");
    int small = HTML.indexOf("Length bucket 256");
    assertTrue(big > 0 && small > big, big + " " + small);
    assertTrue(HTML.contains("most queries"));
    // probe statistics appear in the bucket that has them
    assertTrue(HTML.contains("aria-label=\"echo_score by layer and head, bucket 256\""));
    assertFalse(HTML.contains("aria-label=\"echo_score by layer and head, bucket 1024\""));
  }

  @Test
  void planMapsColourKindsAndShowSpans() throws Exception {
    Element duo = svg("plan p-duo: head kinds and kept spans");
    List<Element> cells = cells(duo);
    assertEquals(32 * 8, cells.size());
    long full =
        cells.stream().filter(c -> c.getAttribute("fill").equals(Colors.kind("full"))).count();
    assertEquals(51, full);
    String tip = SvgParts.title(cells.get(1));
    assertTrue(
        tip.contains("streaming: 16 sinks") && tip.contains("keeps 256 of 1024 tokens"), tip);
    assertTrue(tip.contains("score = "), tip);
    // per-head scores from the params JSON get their own map; MoA's rule index does not
    assertNotNull(svg("score of plan p-duo"));
    assertTrue(HTML.contains("aria-label=\"diffuseness of plan p-ems\""));
    assertFalse(HTML.contains("aria-label=\"rule of plan p-moa\""));
    // MoA's solver status and gap are in the card
    assertTrue(
        HTML.contains("solver.status")
            && HTML.contains("OPTIMAL")
            && HTML.contains("solver.relative_gap"));
    // derived plans are folded away with their role
    assertTrue(HTML.contains("uniform baseline of p-duo"));
    assertTrue(HTML.contains("Pareto candidate of p-moa"));
  }

  @Test
  void fidelityChartDrawsBaselinesJoinedToTheirPlans() throws Exception {
    Element kl = svg("KL(dense \u2016 plan), lower is better against KV fraction kept");
    assertEquals(3, SvgParts.find(kl, "circle", "plan").size());
    List<Element> baselines = SvgParts.find(kl, "path", "baseline");
    assertEquals(2, baselines.size());
    assertTrue(SvgParts.title(baselines.get(0)).contains("uniform baseline of"));
    assertEquals(2, SvgParts.find(kl, "line", "baseline-link").size());
    assertEquals(1, SvgParts.find(kl, "path", "dense").size());
    List<String> texts =
        SvgParts.find(kl, "text", null).stream().map(Element::getTextContent).toList();
    assertTrue(
        texts.contains("KV fraction kept (measured on the held-out samples)"), texts.toString());
    assertTrue(texts.contains("0.2") && texts.contains("1"), texts.toString());
    assertTrue(texts.contains("p-duo"), texts.toString());
    // accuracies get their own charts with the dense model as a line
    Element repeat = svg("Repeat-probe accuracy, higher is better against KV fraction kept");
    assertEquals(1, SvgParts.find(repeat, "line", "dense").size());
    assertNotNull(svg("Passkey accuracy, higher is better against KV fraction kept"));
    // the quantization row has no KV fraction: in the table, not in a chart
    assertTrue(HTML.contains("q-rtn4 measured no KV fraction"));
    assertTrue(HTML.contains("plan better"));
  }

  @Test
  void tablesListEveryPlanAndEvaluationColumn() {
    for (String col :
        List.of(
            "kv_fraction_target",
            "n_positions",
            "top1_agreement",
            "nll_delta",
            "dense_passkey",
            "created_at")) {
      assertTrue(HTML.contains(col.replace("_", "_<wbr>")), col);
    }
    // a column no row has a value in is named under the table instead
    assertFalse(HTML.contains("cosine_<wbr>mean"));
    assertTrue(
        HTML.contains(
            "Columns with no value in any row (not measured for these models or samples):"
                + " cosine_mean."));
    for (PlanRecord p : SampleReports.full(32, 32, 8).plans()) {
      assertTrue(HTML.contains(">" + p.planId() + "<"), p.planId());
    }
    assertTrue(HTML.contains("model.layers.0.mlp.down_proj.weight"));
  }

  @Test
  void reportIsSelfContained() {
    for (String html : List.of(HTML, ReportRenderer.render(SampleReports.statsOnly()))) {
      String lower = html.toLowerCase(Locale.ROOT);
      for (String forbidden :
          List.of(
              "http://",
              "https://",
              "src=",
              "<script",
              "<link",
              "@import",
              "url(",
              "<iframe",
              "<object",
              "<embed")) {
        assertFalse(lower.contains(forbidden), forbidden);
      }
      assertTrue(html.startsWith("<!DOCTYPE html>"));
      assertTrue(html.contains("<meta charset=\"utf-8\">"));
    }
  }

  @Test
  void statsOnlyWarehouseSaysNoDataYet() throws Exception {
    String html = ReportRenderer.render(SampleReports.statsOnly());
    SvgParts.parseAll(html);
    assertTrue(html.contains("aria-label=\"entropy_mean by layer and head, bucket 1024\""));
    Matcher m =
        Pattern.compile("No data yet: table <code>(\\w+)</code> does not exist").matcher(html);
    Set<String> missing = new TreeSet<>();
    while (m.find()) {
      missing.add(m.group(1));
    }
    assertEquals(Set.of("attention_plans", "evaluations", "quant_plans"), missing);
  }

  @Test
  void namesFromTheTablesAreEscaped() throws Exception {
    String evil = "p\"><script>alert('x')</script><svg onload=alert(1)>&amp;</title>";
    String html = ReportRenderer.render(SampleReports.hostile(evil));
    assertFalse(html.contains("<script"), "unescaped script tag");
    assertFalse(html.contains("<svg onload"), "unescaped svg tag");
    assertFalse(html.contains("</title><script"), "title closed by data");
    assertTrue(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
    assertTrue(html.contains("&amp;amp;"));
    // every SVG (tooltips carry the plan id and params) is still well-formed and has only our
    // elements
    for (Element svg : SvgParts.parseAll(html)) {
      assertEquals(0, svg.getElementsByTagName("script").getLength());
      assertEquals(0, SvgParts.find(svg, "svg", null).size());
    }
    assertTrue(html.contains("No data yet") || html.contains("quant_plans"));
  }

  @Test
  void encoderEvaluationsPlotCosineAndMissingStatsSayNoDataYet() throws Exception {
    ReportData full = SampleReports.full(2, 4, 4);
    List<EvaluationRecord> evals =
        List.of(
            new EvaluationRecord(
                SampleReports.MODEL,
                "e1",
                "p-duo",
                "duo",
                "prefill",
                false,
                null,
                0.5,
                0.55,
                4,
                512,
                null,
                null,
                null,
                null,
                null,
                null,
                null,
                0.991,
                SampleReports.T0),
            new EvaluationRecord(
                SampleReports.MODEL,
                "e1",
                "p-duo-uniform",
                "streamingllm",
                "prefill",
                true,
                "p-duo",
                0.5,
                0.56,
                4,
                512,
                null,
                null,
                null,
                null,
                null,
                null,
                null,
                0.962,
                SampleReports.T0));
    String html =
        ReportRenderer.render(
            new ReportData(
                full.warehouse(),
                full.generatedAt(),
                null,
                "",
                List.of(),
                List.of(),
                full.plans(),
                evals,
                List.of(),
                Set.of("head_stats", "runs", "quant_plans")));
    List<Element> svgs = SvgParts.parseAll(html);
    Element cosine =
        svgs.stream()
            .filter(e -> e.getAttribute("aria-label").startsWith("Cosine similarity"))
            .findFirst()
            .orElseThrow();
    assertEquals(1, SvgParts.find(cosine, "path", "baseline").size());
    assertFalse(html.contains("KL(dense"));
    assertTrue(html.contains("No data yet: table <code>head_stats</code> does not exist"));
    assertTrue(html.contains("No data yet: table <code>runs</code> does not exist"));
    // without lineage the held-out set is named by the evaluation run
    assertTrue(html.contains("Held-out samples: <code>run e1</code>"));
  }

  private static Element svg(String ariaLabel) throws Exception {
    return SvgParts.parseAll(HTML).stream()
        .filter(e -> e.getAttribute("aria-label").equals(ariaLabel))
        .findFirst()
        .orElseThrow(() -> new AssertionError("no svg labelled " + ariaLabel));
  }

  private static List<Element> cells(Element svg) {
    return SvgParts.find(svg, "rect", null).stream()
        .filter(
            r -> r.getParentNode() instanceof Element p && "cells".equals(p.getAttribute("class")))
        .toList();
  }
}
