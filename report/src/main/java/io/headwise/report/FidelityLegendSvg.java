package io.headwise.report;

import static io.headwise.report.HeadGridSvg.fmt;

import io.headwise.report.FidelityChartSvg.Axis;
import io.headwise.report.FidelityChartSvg.Point;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * The legend under the fidelity chart: one entry per planning method, the uniform baselines and the
 * dense reference, wrapped into rows of the chart's width. Apart from the chart because its layout
 * (row wrapping) is independent of the plot's scales.
 */
final class FidelityLegendSvg {
  private static final int ROW_H = 18;

  private FidelityLegendSvg() {}

  /** How an entry is drawn. */
  private enum Mark {
    METHOD,
    BASELINE,
    DENSE_POINT,
    DENSE_LINE
  }

  private record Item(Mark mark, String text, String colour) {}

  /**
   * Appends the legend starting at {@code y}, between {@code left} and {@code right}; returns its
   * height.
   */
  static int append(
      StringBuilder s, List<Point> points, Axis axis, int y, int left, int right, double charW) {
    Set<String> methods = new LinkedHashSet<>();
    boolean baselines = false;
    for (Point p : points) {
      if (p.baseline()) {
        baselines = true;
      } else {
        methods.add(p.method());
      }
    }
    List<Item> items = new ArrayList<>();
    for (String m : methods) {
      items.add(new Item(Mark.METHOD, m, Colors.method(m)));
    }
    if (baselines) {
      items.add(
          new Item(
              Mark.BASELINE,
              "uniform StreamingLLM baseline (dashed to its plan)",
              Colors.BASELINE));
    }
    if (axis.denseValue() != null) {
      items.add(
          new Item(
              axis.denseLine() ? Mark.DENSE_LINE : Mark.DENSE_POINT, "dense model", Colors.DENSE));
    }
    double x = left;
    int row = 0;
    s.append("<g class=\"legend\">");
    for (Item it : items) {
      double w = 22 + it.text().length() * charW + 14;
      if (x + w > right && x > left) {
        x = left;
        row++;
      }
      double cy = y + row * ROW_H;
      double mx = x + 7;
      switch (it.mark()) {
        case METHOD ->
            s.append("<circle cx=\"")
                .append(fmt(mx))
                .append("\" cy=\"")
                .append(fmt(cy))
                .append("\" r=\"5\" fill=\"")
                .append(it.colour())
                .append("\"/>");
        case BASELINE ->
            s.append("<path d=\"")
                .append(SvgMarks.diamond(mx, cy, 5.5))
                .append("\" fill=\"#ffffff\" stroke=\"")
                .append(it.colour())
                .append("\" stroke-width=\"2\"/>");
        case DENSE_POINT ->
            s.append("<path d=\"")
                .append(SvgMarks.star(mx, cy))
                .append("\" fill=\"")
                .append(it.colour())
                .append("\"/>");
        case DENSE_LINE ->
            SvgMarks.line(s, "<line", mx - 8, mx + 8, cy, cy)
                .append(" stroke=\"")
                .append(it.colour())
                .append("\" stroke-width=\"1.2\" stroke-dasharray=\"6 4\"/>");
      }
      SvgMarks.text(s, "class=\"legend-text\"", x + 20, cy + 4, it.text());
      x += w;
    }
    s.append("</g>");
    return items.isEmpty() ? 0 : (row + 1) * ROW_H;
  }
}
