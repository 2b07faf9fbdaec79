package io.headwise.report;

import static io.headwise.report.HeadGridSvg.fmt;

/**
 * The SVG pieces the fidelity chart and its legend both draw (markers, lines, labels), written once
 * so the chart and the legend show the same shapes.
 */
final class SvgMarks {
  private SvgMarks() {}

  /**
   * Appends {@code <line CLASS x1=".." x2=".." y1=".." y2=".."}: the caller appends the rest
   * (stroke attributes and the closing) after the last quote.
   */
  static StringBuilder line(
      StringBuilder s, String open, double x1, double x2, double y1, double y2) {
    return s.append(open)
        .append(" x1=\"")
        .append(fmt(x1))
        .append("\" x2=\"")
        .append(fmt(x2))
        .append("\" y1=\"")
        .append(fmt(y1))
        .append("\" y2=\"")
        .append(fmt(y2))
        .append('"');
  }

  /** Appends {@code <text ATTRS x=".." y="..">escaped text</text>}. */
  static void text(StringBuilder s, String attrs, double x, double y, String text) {
    s.append("<text ")
        .append(attrs)
        .append(" x=\"")
        .append(fmt(x))
        .append("\" y=\"")
        .append(fmt(y))
        .append("\">")
        .append(Html.esc(text))
        .append("</text>");
  }

  /** A diamond of half-diagonal {@code r} centred at (x, y) (an SVG path). */
  static String diamond(double x, double y, double r) {
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

  /** A five-pointed star centred at (x, y) (an SVG path): the dense model's marker. */
  static String star(double x, double y) {
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
}
