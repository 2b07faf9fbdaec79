package io.headwise.report;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The report's colours: the viridis scale for continuous values, a colour-blind-safe categorical
 * palette (Okabe-Ito) for head kinds and planning methods, and the helpers that shade and pick
 * readable text.
 */
final class Colors {
  /** Viridis sampled at 0, 0.1, ..., 1 (matplotlib's values); interpolated linearly in between. */
  private static final int[] VIRIDIS = {
    0x440154, 0x482475, 0x414487, 0x355f8d, 0x2a788e, 0x21918c, 0x22a884, 0x44bf70, 0x7ad151,
    0xbddf26, 0xfde725
  };

  static final String MISSING = "#e5e7eb";
  static final String BASELINE = "#6b7280";
  static final String DENSE = "#111827";

  /** Head kinds in legend order with their colours. */
  static final Map<String, String> KINDS;

  private static final Map<String, String> METHODS;
  private static final List<String> EXTRA =
      List.of(
          "#999933", "#882255", "#44aa99", "#332288", "#aa4499", "#117733", "#88ccee", "#ddcc77");

  static {
    KINDS = new LinkedHashMap<>();
    KINDS.put("full", "#0072b2");
    KINDS.put("streaming", "#e69f00");
    KINDS.put("elastic", "#009e73");
    KINDS.put("budget", "#cc79a7");
    METHODS = new LinkedHashMap<>();
    METHODS.put("moa", "#d55e00");
    METHODS.put("duo", "#0072b2");
    METHODS.put("razor", "#009e73");
    METHODS.put("ems", "#cc79a7");
    METHODS.put("h2o", "#e69f00");
    METHODS.put("streamingllm", "#56b4e9");
    METHODS.put("dense", "#000000");
  }

  private Colors() {}

  /** Viridis at {@code t} in [0, 1] (clamped) as {@code #rrggbb}. */
  static String viridis(double t) {
    if (Double.isNaN(t)) {
      return MISSING;
    }
    double x = Math.max(0, Math.min(1, t)) * (VIRIDIS.length - 1);
    int i = Math.min((int) Math.floor(x), VIRIDIS.length - 2);
    double f = x - i;
    return hex(mix(VIRIDIS[i], VIRIDIS[i + 1], f));
  }

  /** The colour of a head kind (grey for an unknown kind). */
  static String kind(String kind) {
    return KINDS.getOrDefault(kind, "#9ca3af");
  }

  /** The colour of a planning method; unknown methods get a stable colour from a second palette. */
  static String method(String method) {
    String m = method == null ? "" : method.toLowerCase(Locale.ROOT);
    String c = METHODS.get(m);
    return c != null ? c : EXTRA.get(Math.floorMod(m.hashCode(), EXTRA.size()));
  }

  /** {@code color} mixed with white: {@code amount} 1 keeps the colour, 0 gives white. */
  static String shade(String color, double amount) {
    int c = Integer.parseInt(color.substring(1), 16);
    return hex(mix(0xffffff, c, Math.max(0, Math.min(1, amount))));
  }

  /** Dark or white text, whichever reads better on {@code background}. */
  static String textOn(String background) {
    int c = Integer.parseInt(background.substring(1), 16);
    double r = ((c >> 16) & 0xff) / 255.0;
    double g = ((c >> 8) & 0xff) / 255.0;
    double b = (c & 0xff) / 255.0;
    double luminance = 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
    return luminance > 0.3 ? "#111827" : "#ffffff";
  }

  private static double lin(double v) {
    return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
  }

  private static int mix(int a, int b, double f) {
    int r = (int) Math.round(((a >> 16) & 0xff) * (1 - f) + ((b >> 16) & 0xff) * f);
    int g = (int) Math.round(((a >> 8) & 0xff) * (1 - f) + ((b >> 8) & 0xff) * f);
    int bl = (int) Math.round((a & 0xff) * (1 - f) + (b & 0xff) * f);
    return (r << 16) | (g << 8) | bl;
  }

  private static String hex(int rgb) {
    return String.format(Locale.ROOT, "#%06x", rgb & 0xffffff);
  }
}
