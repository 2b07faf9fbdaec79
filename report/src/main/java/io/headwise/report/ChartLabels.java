package io.headwise.report;

import java.util.ArrayList;
import java.util.List;

/**
 * Places text labels inside a plot frame without overlapping markers, other labels or the frame:
 * every mark drawn registers its box, and a label takes the first of a fixed list of positions
 * around its point whose box is free (or is left out). Its own class because the collision rule is
 * independent of what the chart draws.
 */
final class ChartLabels {
  private final double left;
  private final double right;
  private final double top;
  private final double bottom;
  private final List<double[]> occupied = new ArrayList<>();

  /** Labels must stay 2 px inside [left, right] × [top, bottom]. */
  ChartLabels(double left, double right, double top, double bottom) {
    this.left = left;
    this.right = right;
    this.top = top;
    this.bottom = bottom;
  }

  /** Marks the box [x0, x1] × [y0, y1] as taken. */
  void occupy(double x0, double y0, double x1, double y1) {
    occupied.add(new double[] {x0, y0, x1, y1});
  }

  /**
   * The baseline position {x, y} of a label {@code w} wide next to the point (x, y), taken and
   * marked occupied; null when no position fits.
   */
  double[] place(double x, double y, double w) {
    double[][] candidates = {
      {x + 9, y + 4}, {x - 9 - w, y + 4}, {x - w / 2, y - 10}, {x - w / 2, y + 18},
      {x + 7, y - 8}, {x - 7 - w, y - 8}, {x + 7, y + 16}, {x - 7 - w, y + 16}
    };
    for (double[] c : candidates) {
      double[] box = {c[0], c[1] - 9, c[0] + w, c[1] + 2};
      if (box[0] < left + 2 || box[2] > right - 2 || box[1] < top + 2 || box[3] > bottom - 2) {
        continue;
      }
      if (free(box)) {
        occupied.add(box);
        return c;
      }
    }
    return null;
  }

  private boolean free(double[] box) {
    for (double[] o : occupied) {
      if (box[0] < o[2] && box[2] > o[0] && box[1] < o[3] && box[3] > o[1]) {
        return false;
      }
    }
    return true;
  }
}
