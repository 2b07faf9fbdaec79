package io.headwise.planners;

/**
 * One windowed statistic family at one bucket for every head, interpolated log-linearly in the
 * window.
 */
public final class WindowCurve {
  private final WindowedStat family;
  private final int bucket;
  private final int numHeads;
  private final double[] windows;
  private final double[] logWindows;
  private final double[][] values;
  private final double[] atZero;

  WindowCurve(
      WindowedStat family,
      int bucket,
      int numHeads,
      double[] windows,
      double[][] values,
      double[] atZero) {
    this.family = family;
    this.bucket = bucket;
    this.numHeads = numHeads;
    this.windows = windows;
    this.values = values;
    this.atZero = atZero;
    this.logWindows = new double[windows.length];
    for (int i = 0; i < windows.length; i++) {
      logWindows[i] = Math.log(windows[i]);
    }
  }

  public int bucket() {
    return bucket;
  }

  /** The interpolated value for (layer, query head) at band width {@code window}. */
  public double at(int layer, int head, double window) {
    if (window >= bucket) {
      return family.whenEverythingKept();
    }
    double[] v = values[layer * numHeads + head];
    if (window <= windows[0]) {
      double z = atZero[layer * numHeads + head];
      return z + (v[0] - z) * Math.max(0.0, window) / windows[0];
    }
    double lw = Math.log(window);
    for (int i = 1; i < windows.length; i++) {
      if (window <= windows[i]) {
        double t = (lw - logWindows[i - 1]) / (logWindows[i] - logWindows[i - 1]);
        return v[i - 1] + (v[i] - v[i - 1]) * t;
      }
    }
    return family.whenEverythingKept();
  }
}
