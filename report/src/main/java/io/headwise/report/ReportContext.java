package io.headwise.report;

import static io.headwise.report.Html.esc;

import io.headwise.schemas.HeadStat;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What every section of one report shares: the data, the models as the report names them, the page
 * body the sections append to, and the table of contents they fill. Sections append in page order;
 * the header and contents are written around the body once every section has run.
 */
final class ReportContext {
  private static final Pattern PARETO = Pattern.compile("(.+)-pareto-\\d+");

  private final ReportData data;
  private final Map<String, ModelInfo> models = new LinkedHashMap<>();
  private final List<TocEntry> toc = new ArrayList<>();
  private final StringBuilder body = new StringBuilder(1 << 16);

  /** A table-of-contents entry: nesting level (1 or 2), fragment id, text. */
  record TocEntry(int level, String anchor, String text) {}

  ReportContext(ReportData data) {
    this.data = data;
    collectModels();
  }

  ReportData data() {
    return data;
  }

  /** The page body the sections append to. */
  StringBuilder body() {
    return body;
  }

  List<TocEntry> toc() {
    return toc;
  }

  /** Every model of the report, in order of first appearance (runs first). */
  Collection<ModelInfo> models() {
    return models.values();
  }

  // ---------------------------------------------------------------- models

  private void collectModels() {
    Map<String, String> sources = new LinkedHashMap<>();
    Set<String> ids = new LinkedHashSet<>();
    for (RunRecord r : sortedRuns()) {
      ids.add(r.modelId());
      if (r.modelSource() != null && !r.modelSource().isBlank()) {
        sources.putIfAbsent(r.modelId(), r.modelSource());
      }
    }
    data.headStats().forEach(s -> ids.add(s.modelId()));
    data.plans().forEach(p -> ids.add(p.meta().modelId()));
    data.evaluations().forEach(e -> ids.add(e.modelId()));
    data.quantPlans().forEach(q -> ids.add(q.modelId()));
    for (String id : ids) {
      int layers = 0;
      int heads = 0;
      int kvHeads = 0;
      for (PlanRecord p : data.plans()) {
        if (p.meta().modelId().equals(id)) {
          layers = p.meta().numLayers();
          heads = p.meta().numHeads();
          kvHeads = p.meta().numKvHeads();
          break;
        }
      }
      if (layers == 0) {
        for (HeadStat s : data.headStats()) {
          if (s.modelId().equals(id)) {
            layers = Math.max(layers, s.layer() + 1);
            heads = Math.max(heads, s.head() + 1);
            kvHeads = Math.max(kvHeads, s.kvHead() + 1);
          }
        }
      }
      String source = sources.get(id);
      String name = source == null ? "model" : Format.fileName(source);
      models.put(
          id,
          new ModelInfo(
              id, name + " (" + Format.shortId(id) + ")", source, layers, heads, kvHeads));
    }
  }

  ModelInfo model(String id) {
    return models.computeIfAbsent(
        id, k -> new ModelInfo(k, "model (" + Format.shortId(k) + ")", null, 0, 0, 0));
  }

  // ---------------------------------------------------------------- page structure

  void section(String anchor, String title, String lead) {
    toc.add(new TocEntry(1, anchor, title));
    body.append("<section id=\"")
        .append(anchor)
        .append("\">\n<h2>")
        .append(esc(title))
        .append("</h2>\n");
    if (lead != null) {
      body.append("<p class=\"lead\">").append(esc(lead)).append("</p>\n");
    }
  }

  void subsection(String anchor, String title, boolean inToc) {
    if (inToc) {
      toc.add(new TocEntry(2, anchor, title));
    }
    body.append("<h3 id=\"").append(anchor).append("\">").append(esc(title)).append("</h3>\n");
  }

  /** The "no data yet" line of a table that is missing or has no rows (matching the filters). */
  void empty(String table, String what, String step) {
    boolean missing = data.missingTables().contains(table);
    body.append("<p class=\"empty\">No data yet: ")
        .append(
            missing
                ? "table <code>" + esc(table) + "</code> does not exist under this warehouse"
                : "table <code>"
                    + esc(table)
                    + "</code> holds no "
                    + esc(what)
                    + (data.filters().isBlank() ? "" : " matching the filters"))
        .append(". Run <code>headwise ")
        .append(esc(step))
        .append("</code> to fill it.</p>\n");
  }

  // ---------------------------------------------------------------- rows in report order

  List<RunRecord> sortedRuns() {
    List<RunRecord> runs = new ArrayList<>(data.runs());
    runs.sort(
        Comparator.comparing(RunRecord::startedAt, Comparator.nullsLast(Comparator.naturalOrder()))
            .thenComparing(RunRecord::runId));
    return runs;
  }

  List<PlanRecord> sortedPlans() {
    List<PlanRecord> plans = new ArrayList<>(data.plans());
    plans.sort(
        Comparator.comparing((PlanRecord p) -> p.meta().modelId())
            .thenComparingLong(p -> p.meta().createdAtMillis())
            .thenComparing(PlanRecord::planId));
    return plans;
  }

  List<EvaluationRecord> sortedEvaluations() {
    List<EvaluationRecord> evals = new ArrayList<>(data.evaluations());
    evals.sort(
        Comparator.comparing(EvaluationRecord::modelId)
            .thenComparing(
                EvaluationRecord::createdAt, Comparator.nullsLast(Comparator.naturalOrder()))
            .thenComparing(EvaluationRecord::runId)
            .thenComparing(EvaluationRecord::baseline)
            .thenComparing(EvaluationRecord::planId));
    return evals;
  }

  /** The run of {@code step} with this model and run id, or null. */
  RunRecord run(String modelId, String runId, String step) {
    for (RunRecord r : data.runs()) {
      if (r.modelId().equals(modelId) && r.runId().equals(runId) && r.step().equals(step)) {
        return r;
      }
    }
    return null;
  }

  // ---------------------------------------------------------------- plans shared by sections

  /**
   * "uniform baseline of X" / "Pareto candidate of X" for plans another step derived from plan X,
   * else null.
   */
  String derivedFrom(PlanRecord p, Set<String> ids) {
    for (EvaluationRecord e : data.evaluations()) {
      if (e.baseline()
          && e.planId().equals(p.planId())
          && e.modelId().equals(p.meta().modelId())
          && e.baselineFor() != null) {
        return "uniform baseline of " + e.baselineFor();
      }
    }
    String id = p.planId();
    if (id.endsWith("-uniform")
        && ids.contains(id.substring(0, id.length() - "-uniform".length()))) {
      return "uniform baseline of " + id.substring(0, id.length() - "-uniform".length());
    }
    Matcher mt = PARETO.matcher(id);
    if (mt.matches() && ids.contains(mt.group(1))) {
      return "Pareto candidate of " + mt.group(1);
    }
    return null;
  }

  /** Heads per kind, in the order of {@link Colors#KINDS}; kinds the plan does not use left out. */
  static Map<String, Integer> kindCounts(PlanRecord p) {
    Map<String, Integer> counts = new LinkedHashMap<>();
    for (String k : Colors.KINDS.keySet()) {
      counts.put(k, 0);
    }
    p.rows().forEach(r -> counts.merge(r.kind(), 1, Integer::sum));
    counts.values().removeIf(v -> v == 0);
    return counts;
  }

  /** The expected KV fraction at each target length ("N = 1024: 0.4981"). */
  static String expected(PlanRecord p) {
    List<String> parts = new ArrayList<>();
    for (int n : p.meta().targetLengths()) {
      Double f = p.meta().expectedKvFraction().get(n);
      parts.add("N = " + n + ": " + Numbers.format(f));
    }
    return parts.isEmpty() ? Numbers.MISSING : String.join(" \u00b7 ", parts);
  }
}
