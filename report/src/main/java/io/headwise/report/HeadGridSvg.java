package io.headwise.report;

import java.util.Locale;

/**
 * An inline SVG grid of layers (rows, layer 0 on top) by heads (columns): one rect per head with a
 * fill, a hover {@code <title>} and, when cells are large enough, a short text; optionally a
 * continuous colour legend below. Cells shrink with the number of heads so that a 32 × 32 model
 * stays about 300 px wide.
 */
final class HeadGridSvg {
  /** One head: fill colour, short cell text (may be null) and hover text. */
  record Cell(String fill, String text, String tooltip) {}

  static final int TARGET_GRID_WIDTH = 300;
  static final int TARGET_GRID_HEIGHT = 360;
  static final int MAX_CELL = 34;
  static final int MIN_CELL = 8;

  /** Cells at least this wide and {@link #TEXT_CELL_HEIGHT} tall carry their text. */
  static final int TEXT_CELL = 24;

  static final int TEXT_CELL_HEIGHT = 14;

  private static final int LEFT = 36;
  private static final int TOP = 30;
  private static final int RIGHT = 10;
  private static final int LEGEND_MIN_WIDTH = 180;

  private HeadGridSvg() {}

  /** Width of a cell for a grid {@code heads} wide. */
  static int cellWidth(int heads) {
    return Math.max(MIN_CELL, Math.min(MAX_CELL, TARGET_GRID_WIDTH / Math.max(1, heads)));
  }

  /**
   * Height of a cell: its width (square cells), flattened so that deep models stay about 360 px
   * tall.
   */
  static int cellHeight(int layers, int heads) {
    return Math.max(MIN_CELL, Math.min(cellWidth(heads), TARGET_GRID_HEIGHT / Math.max(1, layers)));
  }

  /**
   * The SVG element. {@code cells[layer][head]} may hold nulls (drawn as missing); {@code scale}
   * adds a colour legend titled {@code legendTitle} when not null.
   */
  static String render(
      String cssClass,
      String label,
      String headAxis,
      Cell[][] cells,
      ContinuousScale scale,
      String legendTitle) {
    int layers = cells.length;
    int heads = 0;
    for (Cell[] row : cells) {
      heads = Math.max(heads, row.length);
    }
    int cell = cellWidth(heads);
    int cellH = cellHeight(layers, heads);
    int gridW = heads * cell;
    int gridH = layers * cellH;
    int contentW = scale == null ? gridW : Math.max(gridW, LEGEND_MIN_WIDTH);
    int legendH = scale == null ? 0 : 46;
    int width = LEFT + contentW + RIGHT;
    int height = TOP + gridH + legendH + 6;
    StringBuilder s = new StringBuilder(4096 + layers * heads * 120);
    s.append("<svg class=\"")
        .append(Html.esc(cssClass))
        .append("\" width=\"")
        .append(width)
        .append("\" height=\"")
        .append(height)
        .append("\" viewBox=\"0 0 ")
        .append(width)
        .append(' ')
        .append(height)
        .append("\" role=\"img\" aria-label=\"")
        .append(Html.esc(label))
        .append("\">");
    // axis titles
    s.append("<text class=\"axis-title\" x=\"")
        .append(LEFT)
        .append("\" y=\"11\">")
        .append(Html.esc(headAxis))
        .append(" \u2192</text>");
    s.append("<text class=\"axis-title\" transform=\"translate(5,")
        .append(TOP)
        .append(") rotate(90)\">layer \u2192")
        .append("</text>");
    int step = labelStep(cell);
    int layerStep = cellH >= 12 ? 1 : (int) Math.ceil(12.0 / cellH);
    for (int h = 0; h < heads; h++) {
      if (h % step == 0) {
        s.append("<text class=\"tick\" text-anchor=\"middle\" x=\"")
            .append(fmt(LEFT + h * cell + cell / 2.0))
            .append("\" y=\"")
            .append(TOP - 5)
            .append("\">")
            .append(h)
            .append("</text>");
      }
    }
    for (int l = 0; l < layers; l++) {
      if (l % layerStep == 0) {
        s.append("<text class=\"tick\" text-anchor=\"end\" x=\"")
            .append(LEFT - 4)
            .append("\" y=\"")
            .append(fmt(TOP + l * cellH + cellH / 2.0 + 3.5))
            .append("\">")
            .append(l)
            .append("</text>");
      }
    }
    double stroke = Math.min(cell, cellH) < 14 ? 0.5 : 1;
    double fontSize = Math.min(11, Math.min(cell * 0.36, cellH * 0.75));
    s.append("<g class=\"cells\" stroke=\"#ffffff\" stroke-width=\"")
        .append(fmt(stroke))
        .append("\">");
    for (int l = 0; l < layers; l++) {
      for (int h = 0; h < cells[l].length; h++) {
        Cell c = cells[l][h];
        int x = LEFT + h * cell;
        int y = TOP + l * cellH;
        String fill = c == null ? Colors.MISSING : c.fill();
        s.append("<rect x=\"")
            .append(x)
            .append("\" y=\"")
            .append(y)
            .append("\" width=\"")
            .append(cell)
            .append("\" height=\"")
            .append(cellH)
            .append("\" fill=\"")
            .append(Html.esc(fill))
            .append("\"><title>")
            .append(
                Html.esc(
                    c == null
                        ? "layer " + l + ", " + headAxis + " " + h + ": no value"
                        : c.tooltip()))
            .append("</title></rect>");
        if (c != null
            && c.text() != null
            && !c.text().isEmpty()
            && cell >= TEXT_CELL
            && cellH >= TEXT_CELL_HEIGHT) {
          s.append("<text class=\"cell\" text-anchor=\"middle\" x=\"")
              .append(fmt(x + cell / 2.0))
              .append("\" y=\"")
              .append(fmt(y + cellH / 2.0 + fontSize * 0.36))
              .append("\" font-size=\"")
              .append(fmt(fontSize))
              .append("\" stroke=\"none\" style=\"fill:")
              .append(Colors.textOn(fill))
              .append("\" pointer-events=\"none\">")
              .append(Html.esc(c.text()))
              .append("</text>");
        }
      }
    }
    s.append("</g>");
    if (scale != null) {
      legend(s, scale, legendTitle, LEFT, TOP + gridH + 12, contentW);
    }
    s.append("</svg>");
    return s.toString();
  }

  /** A horizontal viridis bar with the minimum, middle and maximum values under it. */
  private static void legend(
      StringBuilder s, ContinuousScale scale, String title, int x, int y, int width) {
    int steps = 40;
    double w = width / (double) steps;
    s.append("<g class=\"legend\">");
    if (title != null) {
      s.append("<text class=\"legend-title\" x=\"")
          .append(x)
          .append("\" y=\"")
          .append(y + 1)
          .append("\">")
          .append(Html.esc(title))
          .append("</text>");
    }
    int barY = y + 6;
    for (int i = 0; i < steps; i++) {
      s.append("<rect x=\"")
          .append(fmt(x + i * w))
          .append("\" y=\"")
          .append(barY)
          .append("\" width=\"")
          .append(fmt(w + 0.6))
          .append("\" height=\"10\" fill=\"")
          .append(Colors.viridis((i + 0.5) / steps))
          .append("\"/>");
    }
    s.append("<rect x=\"")
        .append(x)
        .append("\" y=\"")
        .append(barY)
        .append("\" width=\"")
        .append(width)
        .append("\" height=\"10\" fill=\"none\" stroke=\"#9ca3af\" stroke-width=\"0.5\"/>");
    double mid = (scale.min() + scale.max()) / 2;
    String[] anchors = {"start", "middle", "end"};
    double[] values = {scale.min(), mid, scale.max()};
    double[] xs = {x, x + width / 2.0, x + width};
    for (int i = 0; i < 3; i++) {
      if (i == 1 && scale.max() == scale.min()) {
        continue;
      }
      s.append("<text class=\"tick\" text-anchor=\"")
          .append(anchors[i])
          .append("\" x=\"")
          .append(fmt(xs[i]))
          .append("\" y=\"")
          .append(barY + 22)
          .append("\">")
          .append(Html.esc(Numbers.format(values[i], 3)))
          .append("</text>");
    }
    s.append("</g>");
  }

  private static int labelStep(int cell) {
    return cell >= 16 ? 1 : (int) Math.ceil(16.0 / cell);
  }

  static String fmt(double v) {
    if (v == Math.rint(v)) {
      return Long.toString((long) v);
    }
    return String.format(Locale.ROOT, "%.2f", v);
  }
}
