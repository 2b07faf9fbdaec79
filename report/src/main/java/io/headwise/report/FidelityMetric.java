package io.headwise.report;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * A fidelity metric the report charts: short name, chart title and description, the column it
 * reads, the chart's axis (with the dense model's reference) and which direction is better.
 */
record FidelityMetric(
    String name,
    String title,
    String description,
    Function<EvaluationRecord, Double> value,
    FidelityChartSvg.Axis axis,
    boolean lowerIsBetter) {

  /** The metrics at least one of {@code rows} measured, in chart order (KL first when present). */
  static List<FidelityMetric> measuredIn(List<EvaluationRecord> rows) {
    List<FidelityMetric> out = new ArrayList<>();
    if (rows.stream().anyMatch(r -> r.klMean() != null)) {
      out.add(
          new FidelityMetric(
              "KL",
              "KL(dense \u2016 plan), lower is better",
              "Mean KL divergence of next-token"
                  + " distributions over valid positions; the dense model sits at KV fraction 1, KL 0.",
              EvaluationRecord::klMean,
              new FidelityChartSvg.Axis("KL(dense \u2016 plan) \u2193", 0.0, null, 0.0, false),
              true));
    }
    if (rows.stream().anyMatch(r -> r.top1Agreement() != null)) {
      out.add(
          new FidelityMetric(
              "top-1",
              "Top-1 agreement with dense, higher is better",
              "Share of positions where the plan"
                  + " and the dense model predict the same next token; the dense model sits at 1.",
              EvaluationRecord::top1Agreement,
              new FidelityChartSvg.Axis("top-1 agreement \u2191", null, 1.0, 1.0, false),
              false));
    }
    if (rows.stream().anyMatch(r -> r.cosineMean() != null)) {
      out.add(
          new FidelityMetric(
              "cosine",
              "Cosine similarity to dense, higher is better",
              "Mean cosine similarity of final"
                  + " hidden states over valid tokens; the dense model sits at 1.",
              EvaluationRecord::cosineMean,
              new FidelityChartSvg.Axis("cosine to dense \u2191", null, 1.0, 1.0, false),
              false));
    }
    if (rows.stream().anyMatch(r -> r.repeatAccuracy() != null)) {
      out.add(
          new FidelityMetric(
              "repeat accuracy",
              "Repeat-probe accuracy, higher is better",
              "Next-token accuracy on"
                  + " positions of repeated-token probes that only retrieval can predict; dashed line = dense model.",
              EvaluationRecord::repeatAccuracy,
              new FidelityChartSvg.Axis(
                  "repeat accuracy \u2191",
                  0.0,
                  1.0,
                  mean(rows, EvaluationRecord::denseRepeatAccuracy),
                  true),
              false));
    }
    if (rows.stream().anyMatch(r -> r.passkeyAccuracy() != null)) {
      out.add(
          new FidelityMetric(
              "passkey accuracy",
              "Passkey accuracy, higher is better",
              "Next-token accuracy on the"
                  + " needle tokens of passkey answers; dashed line = dense model.",
              EvaluationRecord::passkeyAccuracy,
              new FidelityChartSvg.Axis(
                  "passkey accuracy \u2191",
                  0.0,
                  1.0,
                  mean(rows, EvaluationRecord::densePasskeyAccuracy),
                  true),
              false));
    }
    return out;
  }

  /** The mean of the finite values of {@code f} over {@code rows}, null when there is none. */
  private static Double mean(List<EvaluationRecord> rows, Function<EvaluationRecord, Double> f) {
    double sum = 0;
    int n = 0;
    for (EvaluationRecord r : rows) {
      Double v = f.apply(r);
      if (v != null && Double.isFinite(v)) {
        sum += v;
        n++;
      }
    }
    return n == 0 ? null : sum / n;
  }
}
