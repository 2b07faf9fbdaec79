package io.headwise.report;

import java.math.BigDecimal;
import java.math.MathContext;
import java.util.Locale;

/**
 * Number formatting for people (report and command summaries): 4 significant digits, scientific
 * notation only for very small or large values.
 */
public final class Numbers {
  static final String MISSING = "\u2014";

  private Numbers() {}

  /**
   * {@code x} to 4 significant digits ("0.6594", "3.977", "6416", "6.25e-4"); null/NaN give an em
   * dash.
   */
  public static String format(Double x) {
    return x == null ? MISSING : format(x.doubleValue(), 4);
  }

  /** {@code x} to {@code digits} significant digits. */
  public static String format(double x, int digits) {
    if (Double.isNaN(x)) {
      return MISSING;
    }
    if (Double.isInfinite(x)) {
      return x > 0 ? "\u221e" : "\u2212\u221e";
    }
    if (x == 0) {
      return "0";
    }
    double a = Math.abs(x);
    if (a < 1e-3 || a >= 1e6) {
      String s = String.format(Locale.ROOT, "%." + (digits - 1) + "e", x);
      int e = s.indexOf('e');
      String mantissa = stripZeros(s.substring(0, e));
      int exponent = Integer.parseInt(s.substring(e + 1));
      return mantissa + "e" + exponent;
    }
    BigDecimal d = new BigDecimal(x).round(new MathContext(digits));
    String s = d.toPlainString();
    return s.contains(".") ? stripZeros(s) : s;
  }

  /** Short cell text: 2 significant digits below 10, integers above. */
  static String compact(double x) {
    if (Double.isNaN(x)) {
      return "";
    }
    double a = Math.abs(x);
    if (a >= 9.95) {
      return String.valueOf(Math.round(x));
    }
    if (a != 0 && a < 0.01) {
      return "<.01";
    }
    String s = format(x, 2);
    return s.startsWith("0.") ? s.substring(1) : s.startsWith("-0.") ? "-" + s.substring(2) : s;
  }

  /** An integer with no grouping ("6416"). */
  static String integer(long x) {
    return Long.toString(x);
  }

  /** A fraction as a percentage with 3 significant digits ("23.4 %"). */
  static String percent(double fraction) {
    return format(fraction * 100, 3) + "\u2009%";
  }

  private static String stripZeros(String s) {
    if (!s.contains(".")) {
      return s;
    }
    String t = s.replaceAll("0+$", "");
    return t.endsWith(".") ? t.substring(0, t.length() - 1) : t;
  }
}
