package io.headwise.report;

import static io.headwise.report.HeadGridSvg.fmt;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * An inline SVG scatter of a fidelity metric (y) against the KV fraction actually kept (x, 0 to 1):
 * one colour per planning method, uniform baselines as hollow grey diamonds joined by a dashed line
 * to the plan they are the baseline of, the dense model as a reference, ticked and labelled axes,
 * plan ids next to the points where they fit, and a legend.
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
  private static final double CHAR_W = 6.1;

  private FidelityChartSvg() {}

  static String render(String label, Axis axis, List<Point> points) {
    int plotW = WIDTH - LEFT - RIGHT;
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
    double[] yTicks = ticks(lo, hi, 5);
    double y0 = yTicks[0];
    double y1 = yTicks[yTicks.length - 1];
    Scale sx = new Scale(0, 1, LEFT, LEFT + plotW);
    Scale sy = new Scale(y0, y1, TOP + PLOT_H, TOP);

    StringBuilder legend = new StringBuilder();
    int legendH = legend(legend, points, axis, TOP + PLOT_H + 48);
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
    s.append("<rect x=\"")
        .append(LEFT)
        .append("\" y=\"")
        .append(TOP)
        .append("\" width=\"")
        .append(plotW)
        .append("\" height=\"")
        .append(PLOT_H)
        .append("\" fill=\"#ffffff\" stroke=\"#d1d5db\"/>");
    // grid and ticks
    for (double t : yTicks) {
      double y = sy.map(t);
      s.append("<line class=\"grid\" x1=\"")
          .append(LEFT)
          .append("\" x2=\"")
          .append(LEFT + plotW)
          .append("\" y1=\"")
          .append(fmt(y))
          .append("\" y2=\"")
          .append(fmt(y))
          .append("\" stroke=\"#eef0f3\"/>");
      s.append("<text class=\"tick\" text-anchor=\"end\" x=\"")
          .append(LEFT - 6)
          .append("\" y=\"")
          .append(fmt(y + 3.5))
          .append("\">")
          .append(Html.esc(Numbers.format(t, 3)))
          .append("</text>");
    }
    for (int i = 0; i <= 5; i++) {
      double t = i / 5.0;
      double x = sx.map(t);
      s.append("<line class=\"grid\" x1=\"")
          .append(fmt(x))
          .append("\" x2=\"")
          .append(fmt(x))
          .append("\" y1=\"")
          .append(TOP)
          .append("\" y2=\"")
          .append(TOP + PLOT_H)
          .append("\" stroke=\"#eef0f3\"/>");
      s.append("<text class=\"tick\" text-anchor=\"middle\" x=\"")
          .append(fmt(x))
          .append("\" y=\"")
          .append(TOP + PLOT_H + 15)
          .append("\">")
          .append(Html.esc(Numbers.format(t, 2)))
          .append("</text>");
    }
    s.append("<rect x=\"")
        .append(LEFT)
        .append("\" y=\"")
        .append(TOP)
        .append("\" width=\"")
        .append(plotW)
        .append("\" height=\"")
        .append(PLOT_H)
        .append("\" fill=\"none\" stroke=\"#9ca3af\"/>");
    s.append("<text class=\"axis-title\" text-anchor=\"middle\" x=\"")
        .append(fmt(LEFT + plotW / 2.0))
        .append("\" y=\"")
        .append(TOP + PLOT_H + 33)
        .append("\">KV fraction kept (measured on the held-out samples)")
        .append("</text>");
    s.append("<text class=\"axis-title\" text-anchor=\"middle\" transform=\"translate(14,")
        .append(fmt(TOP + PLOT_H / 2.0))
        .append(") rotate(-90)\">")
        .append(Html.esc(axis.title()))
        .append("</text>");

    List<double[]> occupied = new ArrayList<>();
    // dense reference
    if (axis.denseValue() != null) {
      double y = sy.map(axis.denseValue());
      if (axis.denseLine()) {
        s.append("<line class=\"dense\" x1=\"")
            .append(LEFT)
            .append("\" x2=\"")
            .append(LEFT + plotW)
            .append("\" y1=\"")
            .append(fmt(y))
            .append("\" y2=\"")
            .append(fmt(y))
            .append("\" stroke=\"")
            .append(Colors.DENSE)
            .append("\" stroke-width=\"1.2\" stroke-dasharray=\"6 4\">")
            .append("<title>")
            .append(Html.esc("dense model: " + Numbers.format(axis.denseValue())))
            .append("</title>")
            .append("</line>");
        String text = "dense " + Numbers.format(axis.denseValue(), 3);
        double w = text.length() * CHAR_W;
        double ty = y - 4 < TOP + 12 ? y + 13 : y - 4;
        s.append("<text class=\"point-label\" text-anchor=\"end\" x=\"")
            .append(LEFT + plotW - 4)
            .append("\" y=\"")
            .append(fmt(ty))
            .append("\">")
            .append(Html.esc(text))
            .append("</text>");
        occupied.add(new double[] {LEFT + plotW - 4 - w, ty - 10, LEFT + plotW - 4, ty + 2});
      } else {
        double x = sx.map(1.0);
        s.append("<path class=\"dense\" d=\"")
            .append(star(x, y))
            .append("\" fill=\"")
            .append(Colors.DENSE)
            .append("\"><title>")
            .append(
                Html.esc("dense model: " + Numbers.format(axis.denseValue()) + " at KV fraction 1"))
            .append("</title></path>");
        occupied.add(new double[] {x - 7, y - 7, x + 7, y + 7});
      }
    }
    // one line per method through its plans in KV order (a trade-off curve when a method has
    // several plans)
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
    // baseline links, drawn under the markers
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
    for (Point p : points) {
      occupied.add(
          new double[] {
            sx.map(p.x()) - 6, sy.map(p.y()) - 6, sx.map(p.x()) + 6, sy.map(p.y()) + 6
          });
    }
    for (Point p : points) {
      double x = sx.map(p.x());
      double y = sy.map(p.y());
      if (p.baseline()) {
        s.append("<path class=\"baseline\" d=\"")
            .append(diamond(x, y, 6.5))
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
    // labels where they fit without overlapping markers, other labels or the frame
    List<Point> order = new ArrayList<>(points);
    order.sort((a, b) -> Boolean.compare(a.baseline(), b.baseline()));
    for (Point p : order) {
      String text = p.baseline() ? "uniform" : p.planId();
      double x = sx.map(p.x());
      double y = sy.map(p.y());
      double w = text.length() * CHAR_W;
      double[][] candidates = {
        {x + 9, y + 4, 0}, {x - 9 - w, y + 4, 0}, {x - w / 2, y - 10, 0}, {x - w / 2, y + 18, 0},
        {x + 7, y - 8, 0}, {x - 7 - w, y - 8, 0}, {x + 7, y + 16, 0}, {x - 7 - w, y + 16, 0}
      };
      for (double[] c : candidates) {
        double[] box = {c[0], c[1] - 9, c[0] + w, c[1] + 2};
        if (box[0] < LEFT + 2
            || box[2] > LEFT + plotW - 2
            || box[1] < TOP + 2
            || box[3] > TOP + PLOT_H - 2) {
          continue;
        }
        boolean free = true;
        for (double[] o : occupied) {
          if (box[0] < o[2] && box[2] > o[0] && box[1] < o[3] && box[3] > o[1]) {
            free = false;
            break;
          }
        }
        if (free) {
          occupied.add(box);
          s.append("<text class=\"point-label")
              .append(p.baseline() ? " muted" : "")
              .append("\" x=\"")
              .append(fmt(c[0]))
              .append("\" y=\"")
              .append(fmt(c[1]))
              .append("\">")
              .append(Html.esc(text))
              .append("</text>");
          break;
        }
      }
    }
    s.append(legend);
    s.append("</svg>");
    return s.toString();
  }

  /** Appends the legend starting at {@code y}; returns its height. */
  private static int legend(StringBuilder s, List<Point> points, Axis axis, int y) {
    Set<String> methods = new LinkedHashSet<>();
    boolean baselines = false;
    for (Point p : points) {
      if (p.baseline()) {
        baselines = true;
      } else {
        methods.add(p.method());
      }
    }
    List<String[]> items = new ArrayList<>();
    for (String m : methods) {
      items.add(new String[] {"method", m, Colors.method(m)});
    }
    if (baselines) {
      items.add(
          new String[] {
            "baseline", "uniform StreamingLLM baseline (dashed to its plan)", Colors.BASELINE
          });
    }
    if (axis.denseValue() != null) {
      items.add(
          new String[] {axis.denseLine() ? "dense-line" : "dense", "dense model", Colors.DENSE});
    }
    double x = LEFT;
    int row = 0;
    s.append("<g class=\"legend\">");
    for (String[] it : items) {
      double w = 22 + it[1].length() * CHAR_W + 14;
      if (x + w > WIDTH - RIGHT && x > LEFT) {
        x = LEFT;
        row++;
      }
      double cy = y + row * 18;
      double mx = x + 7;
      switch (it[0]) {
        case "method" ->
            s.append("<circle cx=\"")
                .append(fmt(mx))
                .append("\" cy=\"")
                .append(fmt(cy))
                .append("\" r=\"5\" fill=\"")
                .append(it[2])
                .append("\"/>");
        case "baseline" ->
            s.append("<path d=\"")
                .append(diamond(mx, cy, 5.5))
                .append("\" fill=\"#ffffff\" stroke=\"")
                .append(it[2])
                .append("\" stroke-width=\"2\"/>");
        case "dense" ->
            s.append("<path d=\"")
                .append(star(mx, cy))
                .append("\" fill=\"")
                .append(it[2])
                .append("\"/>");
        default ->
            s.append("<line x1=\"")
                .append(fmt(mx - 8))
                .append("\" x2=\"")
                .append(fmt(mx + 8))
                .append("\" y1=\"")
                .append(fmt(cy))
                .append("\" y2=\"")
                .append(fmt(cy))
                .append("\" stroke=\"")
                .append(it[2])
                .append("\" stroke-width=\"1.2\" stroke-dasharray=\"6 4\"/>");
      }
      s.append("<text class=\"legend-text\" x=\"")
          .append(fmt(x + 20))
          .append("\" y=\"")
          .append(fmt(cy + 4))
          .append("\">")
          .append(Html.esc(it[1]))
          .append("</text>");
      x += w;
    }
    s.append("</g>");
    return items.isEmpty() ? 0 : (row + 1) * 18;
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

  private static String diamond(double x, double y, double r) {
    return "M"
        + fmt(x)
        + " "
        + fmt(y - r)
        + " L"
        + fmt(x + r)
        + " "
        + fmt(y)
        + " L"
        + fmt(x)
        + " "
        + fmt(y + r)
        + " L"
        + fmt(x - r)
        + " "
        + fmt(y)
        + " Z";
  }

  private static String star(double x, double y) {
    StringBuilder d = new StringBuilder();
    for (int i = 0; i < 10; i++) {
      double a = Math.PI / 2 + i * Math.PI / 5;
      double r = i % 2 == 0 ? 7 : 3;
      d.append(i == 0 ? "M" : " L")
          .append(fmt(x + r * Math.cos(a)))
          .append(' ')
          .append(fmt(y - r * Math.sin(a)));
    }
    return d.append(" Z").toString();
  }

  /** A linear map from a data interval to a pixel interval. */
  private record Scale(double d0, double d1, double p0, double p1) {
    double map(double v) {
      return p0 + (v - d0) / (d1 - d0) * (p1 - p0);
    }
  }
}
