package io.headwise.schemas;

import java.util.OptionalInt;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Names of the per-head statistics, exactly as in the statistics contract (docs/statistics.md):
 * {@code entropy_mean}, {@code sink_mass_{s}}, {@code local_mass_{w}}, {@code coverage_s{S}_w{w}},
 * {@code stream_deviation_s{S}_w{w}}, {@code head_output_energy}, {@code heavy_hitter_share_{p}},
 * {@code echo_score}, {@code induction_score}, {@code needle_mass}; and the measured sensitivity
 * {@code output_kl_s{S}_w{w}}: mean KL(dense ‖ ablated) of the model's output distribution when
 * only this head's kv group is switched to S sinks + a window of w (an extension beyond the
 * attention-probability statistics); and {@code layer_output_kl_s{S}_w{w}}, the same KL when every
 * head of the layer is switched at once (the layer's value, written for each of its query heads).
 */
public final class StatNames {
  public static final String ENTROPY_MEAN = "entropy_mean";
  public static final String ECHO_SCORE = "echo_score";
  public static final String INDUCTION_SCORE = "induction_score";
  public static final String NEEDLE_MASS = "needle_mass";

  /**
   * Mean over valid queries of ‖o_i‖², the head's output before the output projection: the
   * denominator of {@code stream_deviation}, recorded on its own so that a planner can weigh one
   * head's relative deviation by the head's share of its layer's attention output.
   */
  public static final String HEAD_OUTPUT_ENERGY = "head_output_energy";

  private static final Pattern SINK = Pattern.compile("sink_mass_(\\d+)");
  private static final Pattern LOCAL = Pattern.compile("local_mass_(\\d+)");
  private static final Pattern COVERAGE = Pattern.compile("coverage_s(\\d+)_w(\\d+)");
  private static final Pattern DEVIATION = Pattern.compile("stream_deviation_s(\\d+)_w(\\d+)");
  private static final Pattern HEAVY = Pattern.compile("heavy_hitter_share_(\\d+)");
  private static final Pattern OUTPUT_KL = Pattern.compile("output_kl_s(\\d+)_w(\\d+)");
  private static final Pattern LAYER_OUTPUT_KL = Pattern.compile("layer_output_kl_s(\\d+)_w(\\d+)");

  private StatNames() {}

  public static String sinkMass(int sinkTokens) {
    return "sink_mass_" + sinkTokens;
  }

  public static String localMass(int window) {
    return "local_mass_" + window;
  }

  public static String coverage(int sinkTokens, int window) {
    return "coverage_s" + sinkTokens + "_w" + window;
  }

  public static String streamDeviation(int sinkTokens, int window) {
    return "stream_deviation_s" + sinkTokens + "_w" + window;
  }

  /** The measured output sensitivity of switching a head's kv group to S sinks + window w. */
  public static String outputKl(int sinkTokens, int window) {
    return "output_kl_s" + sinkTokens + "_w" + window;
  }

  /** The sink count S of an {@code output_kl_s{S}_w{w}} name. */
  public static OptionalInt outputKlSinks(String stat) {
    return group(OUTPUT_KL, stat, 1);
  }

  /** The window w of an {@code output_kl_s{S}_w{w}} name. */
  public static OptionalInt outputKlWindow(String stat) {
    return group(OUTPUT_KL, stat, 2);
  }

  /**
   * The measured output sensitivity of switching every head of a layer to S sinks + window w: the
   * layer's value, written for each of its query heads.
   */
  public static String layerOutputKl(int sinkTokens, int window) {
    return "layer_output_kl_s" + sinkTokens + "_w" + window;
  }

  /** The sink count S of a {@code layer_output_kl_s{S}_w{w}} name. */
  public static OptionalInt layerOutputKlSinks(String stat) {
    return group(LAYER_OUTPUT_KL, stat, 1);
  }

  /** The window w of a {@code layer_output_kl_s{S}_w{w}} name. */
  public static OptionalInt layerOutputKlWindow(String stat) {
    return group(LAYER_OUTPUT_KL, stat, 2);
  }

  /** {@code percent} is a whole percentage of the key columns, e.g. 10 for the top 10 %. */
  public static String heavyHitterShare(int percent) {
    return "heavy_hitter_share_" + percent;
  }

  /** The window of a {@code local_mass_{w}} name. */
  public static OptionalInt localWindow(String stat) {
    return group(LOCAL, stat, 1);
  }

  /** The sink count of a {@code sink_mass_{s}} name. */
  public static OptionalInt sinkTokens(String stat) {
    return group(SINK, stat, 1);
  }

  /** The sink count S of a {@code coverage_s{S}_w{w}} name. */
  public static OptionalInt coverageSinks(String stat) {
    return group(COVERAGE, stat, 1);
  }

  /** The window w of a {@code coverage_s{S}_w{w}} name. */
  public static OptionalInt coverageWindow(String stat) {
    return group(COVERAGE, stat, 2);
  }

  /** The sink count S of a {@code stream_deviation_s{S}_w{w}} name. */
  public static OptionalInt deviationSinks(String stat) {
    return group(DEVIATION, stat, 1);
  }

  /** The window w of a {@code stream_deviation_s{S}_w{w}} name. */
  public static OptionalInt deviationWindow(String stat) {
    return group(DEVIATION, stat, 2);
  }

  /** The percentage p of a {@code heavy_hitter_share_{p}} name. */
  public static OptionalInt heavyHitterPercent(String stat) {
    return group(HEAVY, stat, 1);
  }

  private static OptionalInt group(Pattern p, String stat, int group) {
    Matcher m = p.matcher(stat);
    return m.matches() ? OptionalInt.of(Integer.parseInt(m.group(group))) : OptionalInt.empty();
  }
}
