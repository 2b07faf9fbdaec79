package io.headwise.report;

import static io.headwise.report.Html.esc;

import io.headwise.schemas.HeadStat;
import io.headwise.schemas.StatNames;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Section 2, Head statistics: layer × query-head heatmaps of the main statistics (chosen by {@link
 * StatChoice}) per model, stats run and length bucket, the bucket with the most queries first.
 */
final class StatisticsSection {
  private final ReportContext ctx;
  private final ReportData data;
  private final StringBuilder body;

  StatisticsSection(ReportContext ctx) {
    this.ctx = ctx;
    this.data = ctx.data();
    this.body = ctx.body();
  }

  void render() {
    ctx.section(
        "stats",
        "Head statistics",
        "Layer \u00d7 query-head heatmaps of the main statistics of each profile"
            + " run, one block per length bucket (the bucket with the most queries first). Each map has its own colour"
            + " scale (viridis, low = dark); hover a cell for its value.");
    if (data.headStats().isEmpty()) {
      ctx.empty("head_stats", "statistics", "profile");
      body.append("</section>\n");
      return;
    }
    Map<String, Map<String, List<HeadStat>>> byModelRun = new LinkedHashMap<>();
    for (HeadStat s : data.headStats()) {
      byModelRun
          .computeIfAbsent(s.modelId(), k -> new TreeMap<>())
          .computeIfAbsent(s.runId(), k -> new ArrayList<>())
          .add(s);
    }
    for (Map.Entry<String, Map<String, List<HeadStat>>> m : byModelRun.entrySet()) {
      for (Map.Entry<String, List<HeadStat>> run : m.getValue().entrySet()) {
        statsRun(m.getKey(), run.getKey(), run.getValue());
      }
    }
    body.append("</section>\n");
  }

  private void statsRun(String modelId, String runId, List<HeadStat> stats) {
    ModelInfo m = ctx.model(modelId);
    ctx.subsection(
        Html.anchor("stats", m.label(), runId),
        "Stats run " + runId + " \u00b7 " + m.label(),
        true);
    Map<Integer, List<HeadStat>> byBucket = new TreeMap<>();
    stats.forEach(s -> byBucket.computeIfAbsent(s.lengthBucket(), k -> new ArrayList<>()).add(s));
    Map<Integer, Long> queries = new HashMap<>();
    byBucket.forEach((b, list) -> queries.put(b, queriesOf(list)));
    List<Integer> buckets = new ArrayList<>(byBucket.keySet());
    buckets.sort(Comparator.comparingLong((Integer b) -> -queries.get(b)).thenComparingInt(b -> b));
    RunRecord profile = ctx.run(modelId, runId, "profile");
    body.append("<p class=\"sub\">");
    if (profile != null) {
      body.append("Profiled ")
          .append(esc(Format.time(profile.startedAt())))
          .append(" \u00b7 <code>")
          .append(esc(Format.summary(profile.configJson())))
          .append("</code><br>");
    }
    List<String> parts = new ArrayList<>();
    for (int b : buckets) {
      parts.add(b + " (" + queries.get(b) + " queries per head)");
    }
    body.append("Length buckets: ").append(esc(String.join(", ", parts))).append("</p>\n");
    boolean first = true;
    for (int b : buckets) {
      List<HeadStat> list = byBucket.get(b);
      body.append("<h4 id=\"")
          .append(Html.anchor("stats", m.label(), runId, "bucket", String.valueOf(b)))
          .append("\">Length bucket ")
          .append(b)
          .append(" \u00b7 ")
          .append(queries.get(b))
          .append(" queries per head");
      if (first && buckets.size() > 1) {
        body.append("<span class=\"tag\">most queries</span>");
      }
      body.append("</h4>\n");
      first = false;
      statsBucket(list, b);
    }
  }

  /**
   * Valid queries per head of a bucket: the n_queries of entropy_mean (all queries), else the
   * largest n_queries.
   */
  private static long queriesOf(List<HeadStat> list) {
    long entropy =
        list.stream()
            .filter(s -> s.stat().equals(StatNames.ENTROPY_MEAN))
            .mapToLong(HeadStat::nQueries)
            .max()
            .orElse(-1);
    return entropy >= 0 ? entropy : list.stream().mapToLong(HeadStat::nQueries).max().orElse(0);
  }

  private void statsBucket(List<HeadStat> list, int bucket) {
    Map<String, List<HeadStat>> byStat = new LinkedHashMap<>();
    int layers = 0;
    int heads = 0;
    for (HeadStat s : list) {
      byStat.computeIfAbsent(s.stat(), k -> new ArrayList<>()).add(s);
      layers = Math.max(layers, s.layer() + 1);
      heads = Math.max(heads, s.head() + 1);
    }
    body.append("<div class=\"cards\">\n");
    for (String stat : StatChoice.pick(byStat.keySet(), bucket)) {
      HeadGridSvg.Cell[][] cells = new HeadGridSvg.Cell[layers][heads];
      List<HeadStat> values = byStat.get(stat);
      double[] v = values.stream().mapToDouble(HeadStat::value).toArray();
      ContinuousScale scale = ContinuousScale.over(v);
      for (HeadStat s : values) {
        String tip =
            "layer "
                + s.layer()
                + ", head "
                + s.head()
                + " (kv head "
                + s.kvHead()
                + ")\n"
                + stat
                + " = "
                + Numbers.format(s.value(), 4)
                + "\nover "
                + s.nQueries()
                + " queries, bucket "
                + bucket;
        cells[s.layer()][s.head()] =
            new HeadGridSvg.Cell(scale.color(s.value()), Numbers.compact(s.value()), tip);
      }
      body.append("<div class=\"card heatmap\"><h5><code>")
          .append(esc(stat))
          .append("</code></h5><p class=\"desc\">")
          .append(esc(StatChoice.describe(stat)))
          .append("</p><div class=\"scroll\">")
          .append(
              HeadGridSvg.render(
                  "heatmap",
                  stat + " by layer and head, bucket " + bucket,
                  "head",
                  cells,
                  scale,
                  null))
          .append("</div></div>\n");
    }
    body.append("</div>\n");
  }
}
