package io.headwise.planners;

import io.headwise.schemas.HeadwiseException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * A planner's options after validation: unknown keys are rejected by name, missing keys take the
 * declared default, and values are parsed (and reported by key when malformed) on access.
 */
public final class PlanOptions {
  /** The value that asks a planner to derive an option from the statistics or the budget. */
  public static final String AUTO = "auto";

  private final String method;
  private final Map<String, String> values;

  private PlanOptions(String method, Map<String, String> values) {
    this.method = method;
    this.values = values;
  }

  /**
   * Validates {@code given} against {@code specs}; throws {@link HeadwiseException} naming any
   * unknown key.
   */
  public static PlanOptions resolve(
      String method, List<OptionSpec> specs, Map<String, String> given) {
    Map<String, String> resolved = new LinkedHashMap<>();
    for (OptionSpec spec : specs) {
      resolved.put(spec.key(), spec.defaultValue());
    }
    for (Map.Entry<String, String> e : given.entrySet()) {
      if (!resolved.containsKey(e.getKey())) {
        throw new HeadwiseException(
            "unknown option '"
                + e.getKey()
                + "' for method "
                + method
                + "; valid options: "
                + specs.stream().map(OptionSpec::key).collect(Collectors.joining(", ")));
      }
      if (e.getValue() == null || e.getValue().isBlank()) {
        throw new HeadwiseException(
            "option '" + e.getKey() + "' for method " + method + " has no value");
      }
      resolved.put(e.getKey(), e.getValue().trim());
    }
    return new PlanOptions(method, Collections.unmodifiableMap(resolved));
  }

  /** Every option with its effective value, in declaration order. */
  public Map<String, String> values() {
    return values;
  }

  public String string(String key) {
    String v = values.get(key);
    if (v == null) {
      throw new IllegalArgumentException("option " + key + " is not declared by method " + method);
    }
    return v;
  }

  public boolean isAuto(String key) {
    return AUTO.equalsIgnoreCase(string(key));
  }

  public int integer(String key) {
    String v = string(key);
    try {
      return Integer.parseInt(v);
    } catch (NumberFormatException e) {
      throw bad(key, v, "an integer");
    }
  }

  public double number(String key) {
    String v = string(key);
    try {
      double d = Double.parseDouble(v);
      if (!Double.isFinite(d)) {
        throw bad(key, v, "a finite number");
      }
      return d;
    } catch (NumberFormatException e) {
      throw bad(key, v, "a number");
    }
  }

  /** A number that must lie in [lo, hi]. */
  public double number(String key, double lo, double hi) {
    double d = number(key);
    if (d < lo || d > hi) {
      throw bad(key, string(key), "a number in [" + lo + ", " + hi + "]");
    }
    return d;
  }

  /** An integer that must be at least {@code min}. */
  public int integer(String key, int min) {
    int i = integer(key);
    if (i < min) {
      throw bad(key, string(key), "an integer ≥ " + min);
    }
    return i;
  }

  /** A comma-separated list of numbers. */
  public List<Double> numbers(String key) {
    String v = string(key);
    List<Double> out = new ArrayList<>();
    for (String part : v.split(",")) {
      try {
        double d = Double.parseDouble(part.trim());
        if (!Double.isFinite(d)) {
          throw bad(key, v, "a comma-separated list of finite numbers");
        }
        out.add(d);
      } catch (NumberFormatException e) {
        throw bad(key, v, "a comma-separated list of numbers");
      }
    }
    return out;
  }

  /** One of the given words (case-insensitive), returned in lower case. */
  public String choice(String key, String... allowed) {
    String v = string(key).toLowerCase(Locale.ROOT);
    for (String a : allowed) {
      if (a.equals(v)) {
        return v;
      }
    }
    throw bad(key, string(key), "one of " + String.join(", ", allowed));
  }

  private HeadwiseException bad(String key, String value, String expected) {
    return new HeadwiseException(
        "option '" + key + "' for method " + method + " is '" + value + "'; expected " + expected);
  }
}
