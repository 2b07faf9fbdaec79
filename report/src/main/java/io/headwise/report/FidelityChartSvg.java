package io.headwise.report;

import static io.headwise.report.HeadGridSvg.fmt;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * An inline SVG scatter of a fidelity metric (y) against the KV fraction actually kept (x, 0 to 1):
 * one colour per planning method, uniform baselines as hollow grey diamonds joined by a dashed line
 * to the plan they are the baseline of, the dense model as a reference, ticked and labelled axes,
 * plan ids next to the points where they fit ({@link ChartLabels}), and a legend ({@link
 * FidelityLegendSvg}).
 */
final class FidelityChartSvg {
  /** One evaluated plan. */
  record Point(
      String planId,
      String method,
      boolean baseline,
      String baselineFor,
      String runId,
      double x,
      double y,
      String tooltip) {}

  /**
   * The y axis: title, fixed bounds (null = from the data), and the dense model's value drawn as a
   * point at x = 1 ({@code denseLine} false) or as a horizontal line (true); {@code denseValue}
   * null draws no reference.
   */
  record Axis(String title, Double min, Double max, Double denseValue, boolean denseLine) {}

  static final int WIDTH = 600;
  private static final int LEFT = 60;
  private static final int RIGHT = 22;
  private static final int TOP = 16;
  private static final int PLOT_H = 230;
  private static final int PLOT_W = WIDTH - LEFT - RIGHT;
  private static final double CHAR_W = 6.1;

  private FidelityChartSvg() {}

  static String render(String label, Axis axis, List<Point> points) {
    double[] yTicks = ticks(yRange(axis, points), 5);
    Scale sx = new Scale(0, 1, LEFT, LEFT + PLOT_W);
    Scale sy = new Scale(yTicks[0], yTicks[yTicks.length - 1], TOP + PLOT_H, TOP);

    StringBuilder legend = new StringBuilder();
    int legendH =
        FidelityLegendSvg.append(
            legend, points, axis, TOP + PLOT_H + 48, LEFT, WIDTH - RIGHT, CHAR_W);
    int height = TOP + PLOT_H + 48 + legendH + 4;

    StringBuilder s = new StringBuilder(8192);
    s.append("<svg class=\"fidelity\" width=\"")
        .append(WIDTH)
        .append("\" height=\"")
        .append(height)
        .append("\" viewBox=\"0 0 ")
        .append(WIDTH)
        .append(' ')
        .append(height)
        .append("\" role=\"img\" aria-label=\"")
        .append(Html.esc(label))
        .append("\">");
    axes(s, axis, yTicks, sx, sy);
    ChartLabels labels = new ChartLabels(LEFT, LEFT + PLOT_W, TOP, TOP + PLOT_H);
    if (axis.denseValue() != null) {
      denseReference(s, axis, sx, sy, labels);
    }
    series(s, points, sx, sy);
    baselineLinks(s, points, sx, sy);
    markers(s, points, sx, sy, labels);
    pointLabels(s, points, sx, sy, labels);
    s.append(legend);
    s.append("</svg>");
    return s.toString();
  }

  /**
   * The y range to show: the points, the dense value and the axis' fixed bounds; a default or a
   * padded range when that is empty or a single value.
   */
  private static double[] yRange(Axis axis, List<Point> points) {
    double lo = Double.POSITIVE_INFINITY;
    double hi = Double.NEGATIVE_INFINITY;
    for (Point p : points) {
      lo = Math.min(lo, p.y());
      hi = Math.max(hi, p.y());
    }
    if (axis.denseValue() != null) {
      lo = Math.min(lo, axis.denseValue());
      hi = Math.max(hi, axis.denseValue());
    }
    if (axis.min() != null) {
      lo = Math.min(lo, axis.min());
    }
    if (axis.max() != null) {
      hi = Math.max(hi, axis.max());
    }
    if (!(lo <= hi)) {
      lo = 0;
      hi = 1;
    }
    if (hi - lo < 1e-12) {
      double pad = Math.max(Math.abs(lo) * 0.05, 0.05);
      lo -= pad;
      hi += pad;
    }
    return new double[] {lo, hi};
  }

  /** Plot background, grid, ticks, frame and axis titles. */
  private static void axes(StringBuilder s, Axis axis, double[] yTicks, Scale sx, Scale sy) {
    frame(s, "#ffffff", "#d1d5db");
    for (double t : yTicks) {
      double y = sy.map(t);
      SvgMarks.line(s, "<line class=\"grid\"", LEFT, LEFT + PLOT_W, y, y)
          .append(" stroke=\"#eef0f3\"/>");
      SvgMarks.text(
          s, "class=\"tick\" text-anchor=\"end\"", LEFT - 6, y + 3.5, Numbers.format(t, 3));
    }
    for (int i = 0; i <= 5; i++) {
      double t = i / 5.0;
      double x = sx.map(t);
      SvgMarks.line(s, "<line class=\"grid\"", x, x, TOP, TOP + PLOT_H)
          .append(" stroke=\"#eef0f3\"/>");
      SvgMarks.text(
          s, "class=\"tick\" text-anchor=\"middle\"", x, TOP + PLOT_H + 15, Numbers.format(t, 2));
    }
    frame(s, "none", "#9ca3af");
    SvgMarks.text(
        s,
        "class=\"axis-title\" text-anchor=\"middle\"",
        LEFT + PLOT_W / 2.0,
        TOP + PLOT_H + 33,
        "KV fraction kept (measured on the held-out samples)");
    s.append("<text class=\"axis-title\" text-anchor=\"middle\" transform=\"translate(14,")
        .append(fmt(TOP + PLOT_H / 2.0))
        .append(") rotate(-90)\">")
        .append(Html.esc(axis.title()))
        .append("</text>");
  }

  /** The plot rectangle (drawn under the grid as background and over it as the frame). */
  private static void frame(StringBuilder s, String fill, String stroke) {
    s.append("<rect x=\"")
        .append(LEFT)
        .append("\" y=\"")
        .append(TOP)
        .append("\" width=\"")
        .append(PLOT_W)
        .append("\" height=\"")
        .append(PLOT_H)
        .append("\" fill=\"")
        .append(fill)
        .append("\" stroke=\"")
        .append(stroke)
        .append("\"/>");
  }

  /** The dense model: a labelled horizontal line or a star at x = 1. */
  private static void denseReference(
      StringBuilder s, Axis axis, Scale sx, Scale sy, ChartLabels labels) {
    double y = sy.map(axis.denseValue());
    if (axis.denseLine()) {
      SvgMarks.line(s, "<line class=\"dense\"", LEFT, LEFT + PLOT_W, y, y)
          .append(" stroke=\"")
          .append(Colors.DENSE)
          .append("\" stroke-width=\"1.2\" stroke-dasharray=\"6 4\">")
          .append("<title>")
          .append(Html.esc("dense model: " + Numbers.format(axis.denseValue())))
          .append("</title>")
          .append("</line>");
      String text = "dense " + Numbers.format(axis.denseValue(), 3);
      double w = text.length() * CHAR_W;
      double ty = y - 4 < TOP + 12 ? y + 13 : y - 4;
      SvgMarks.text(s, "class=\"point-label\" text-anchor=\"end\"", LEFT + PLOT_W - 4, ty, text);
      labels.occupy(LEFT + PLOT_W - 4 - w, ty - 10, LEFT + PLOT_W - 4, ty + 2);
    } else {
      double x = sx.map(1.0);
      s.append("<path class=\"dense\" d=\"")
          .append(SvgMarks.star(x, y))
          .append("\" fill=\"")
          .append(Colors.DENSE)
          .append("\"><title>")
          .append(
              Html.esc("dense model: " + Numbers.format(axis.denseValue()) + " at KV fraction 1"))
          .append("</title></path>");
      labels.occupy(x - 7, y - 7, x + 7, y + 7);
    }
  }

  /**
   * One line per method through its plans in KV order (a trade-off curve when a method has several
   * plans).
   */
  private static void series(StringBuilder s, List<Point> points, Scale sx, Scale sy) {
    Map<String, List<Point>> byMethod = new LinkedHashMap<>();
    for (Point p : points) {
      if (!p.baseline()) {
        byMethod.computeIfAbsent(p.method(), k -> new ArrayList<>()).add(p);
      }
    }
    for (var e : byMethod.entrySet()) {
      if (e.getValue().size() < 2) {
        continue;
      }
      List<Point> sorted = new ArrayList<>(e.getValue());
      sorted.sort(Comparator.comparingDouble(Point::x).thenComparingDouble(Point::y));
      StringBuilder pts = new StringBuilder();
      for (Point p : sorted) {
        pts.append(pts.length() == 0 ? "" : " ")
            .append(fmt(sx.map(p.x())))
            .append(',')
            .append(fmt(sy.map(p.y())));
      }
      s.append("<polyline class=\"series\" points=\"")
          .append(pts)
          .append("\" fill=\"none\" stroke=\"")
          .append(Colors.method(e.getKey()))
          .append("\" stroke-width=\"1.5\" stroke-opacity=\"0.55\"/>");
    }
  }

  /** Dashed links from each baseline to the plan it is the baseline of, drawn under the markers. */
  private static void baselineLinks(StringBuilder s, List<Point> points, Scale sx, Scale sy) {
    for (Point b : points) {
      if (!b.baseline() || b.baselineFor() == null) {
        continue;
      }
      for (Point p : points) {
        if (!p.baseline() && p.planId().equals(b.baselineFor()) && p.runId().equals(b.runId())) {
          s.append("<line class=\"baseline-link\" x1=\"")
              .append(fmt(sx.map(b.x())))
              .append("\" y1=\"")
              .append(fmt(sy.map(b.y())))
              .append("\" x2=\"")
              .append(fmt(sx.map(p.x())))
              .append("\" y2=\"")
              .append(fmt(sy.map(p.y())))
              .append("\" stroke=\"#9ca3af\" stroke-width=\"1.2\"")
              .append(" stroke-dasharray=\"4 3\"/>");
        }
      }
    }
  }

  /** A circle per plan, a hollow diamond per baseline, each with its tooltip. */
  private static void markers(
      StringBuilder s, List<Point> points, Scale sx, Scale sy, ChartLabels labels) {
    for (Point p : points) {
      labels.occupy(sx.map(p.x()) - 6, sy.map(p.y()) - 6, sx.map(p.x()) + 6, sy.map(p.y()) + 6);
    }
    for (Point p : points) {
      double x = sx.map(p.x());
      double y = sy.map(p.y());
      if (p.baseline()) {
        s.append("<path class=\"baseline\" d=\"")
            .append(SvgMarks.diamond(x, y, 6.5))
            .append("\" fill=\"#ffffff\" stroke=\"")
            .append(Colors.BASELINE)
            .append("\" stroke-width=\"2\">");
      } else {
        s.append("<circle class=\"plan\" cx=\"")
            .append(fmt(x))
            .append("\" cy=\"")
            .append(fmt(y))
            .append("\" r=\"5.5\" fill=\"")
            .append(Colors.method(p.method()))
            .append("\" stroke=\"#ffffff\" stroke-width=\"1.5\">");
      }
      s.append("<title>").append(Html.esc(p.tooltip())).append("</title>");
      s.append(p.baseline() ? "</path>" : "</circle>");
    }
  }

  /** Plan ids (plans first) and "uniform" (baselines) where they fit. */
  private static void pointLabels(
      StringBuilder s, List<Point> points, Scale sx, Scale sy, ChartLabels labels) {
    List<Point> order = new ArrayList<>(points);
    order.sort((a, b) -> Boolean.compare(a.baseline(), b.baseline()));
    for (Point p : order) {
      String text = p.baseline() ? "uniform" : p.planId();
      double[] at = labels.place(sx.map(p.x()), sy.map(p.y()), text.length() * CHAR_W);
      if (at != null) {
        SvgMarks.text(
            s, "class=\"point-label" + (p.baseline() ? " muted" : "") + "\"", at[0], at[1], text);
      }
    }
  }

  /** {@link #ticks(double, double, int)} of a [lo, hi] pair. */
  private static double[] ticks(double[] range, int target) {
    return ticks(range[0], range[1], target);
  }

  /**
   * Round tick values covering [lo, hi] (about {@code target} intervals); the first and last bound
   * the axis.
   */
  static double[] ticks(double lo, double hi, int target) {
    double raw = (hi - lo) / target;
    double mag = Math.pow(10, Math.floor(Math.log10(raw)));
    double r = raw / mag;
    double step = (r < 1.5 ? 1 : r < 3 ? 2 : r < 7 ? 5 : 10) * mag;
    double start = Math.floor(lo / step + 1e-9) * step;
    double end = Math.ceil(hi / step - 1e-9) * step;
    int n = (int) Math.round((end - start) / step);
    double[] out = new double[n + 1];
    for (int i = 0; i <= n; i++) {
      out[i] = Math.round((start + i * step) / step) * step;
    }
    return out;
  }

  /** A linear map from a data interval to a pixel interval. */
  private record Scale(double d0, double d1, double p0, double p1) {
    double map(double v) {
      return p0 + (v - d0) / (d1 - d0) * (p1 - p0);
    }
  }
}
