package io.headwise.report;

import io.headwise.schemas.StatNames;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.OptionalInt;
import java.util.TreeSet;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Which statistics the report draws for one length bucket, in display order: {@code entropy_mean},
 * one sink mass ({@code sink_mass_4} or the smallest present), two local masses (windows nearest
 * N/16 and N/4), one stream deviation (S = 4 or the smallest S, the middle window below N), the
 * measured {@code output_kl_s{S}_w{w}} chosen the same way when the profile has it, the
 * heavy-hitter share nearest 10 %, then {@code echo_score}, {@code induction_score} and {@code
 * needle_mass} when present.
 */
final class StatChoice {
  /**
   * The measured per-head output sensitivity some profile runs add (not a probability statistic).
   */
  private static final Pattern OUTPUT_KL = Pattern.compile("output_kl_s(\\d+)_w(\\d+)");

  private StatChoice() {}

  static List<String> pick(Collection<String> available, int bucket) {
    List<String> out = new ArrayList<>();
    if (available.contains(StatNames.ENTROPY_MEAN)) {
      out.add(StatNames.ENTROPY_MEAN);
    }
    TreeSet<Integer> sinks = values(available, StatNames::sinkTokens);
    if (!sinks.isEmpty()) {
      out.add(StatNames.sinkMass(sinks.contains(4) ? 4 : sinks.first()));
    }
    TreeSet<Integer> windows = values(available, StatNames::localWindow);
    List<Integer> below = windows.stream().filter(w -> w > 1 && w < bucket).toList();
    if (below.isEmpty()) {
      below = new ArrayList<>(windows);
    }
    if (!below.isEmpty()) {
      int a = nearestLog(below, bucket / 16.0);
      int b = nearestLog(below, bucket / 4.0);
      out.add(StatNames.localMass(a));
      if (b != a) {
        out.add(StatNames.localMass(b));
      }
    }
    TreeSet<Integer> deviationSinks = values(available, StatNames::deviationSinks);
    if (!deviationSinks.isEmpty()) {
      int s = deviationSinks.contains(4) ? 4 : deviationSinks.first();
      List<Integer> ws = new ArrayList<>();
      for (String stat : available) {
        if (StatNames.deviationSinks(stat).orElse(-1) == s) {
          ws.add(StatNames.deviationWindow(stat).getAsInt());
        }
      }
      ws.sort(Comparator.naturalOrder());
      List<Integer> under = ws.stream().filter(w -> w < bucket).toList();
      List<Integer> pool = under.isEmpty() ? ws : under;
      out.add(StatNames.streamDeviation(s, pool.get(pool.size() / 2)));
    }
    String outputKl = outputKl(available, bucket);
    if (outputKl != null) {
      out.add(outputKl);
    }
    TreeSet<Integer> heavy = values(available, StatNames::heavyHitterPercent);
    if (!heavy.isEmpty()) {
      out.add(
          StatNames.heavyHitterShare(
              heavy.stream().min(Comparator.comparingInt(p -> Math.abs(p - 10))).orElseThrow()));
    }
    for (String s :
        List.of(StatNames.ECHO_SCORE, StatNames.INDUCTION_SCORE, StatNames.NEEDLE_MASS)) {
      if (available.contains(s)) {
        out.add(s);
      }
    }
    return out;
  }

  /** What a statistic measures, one line for the heatmap's caption. */
  static String describe(String stat) {
    if (stat.equals(StatNames.ENTROPY_MEAN)) {
      return "mean attention entropy (nats); low = focused";
    }
    if (stat.equals(StatNames.ECHO_SCORE)) {
      return "mass on earlier copies of the query token (repeat probes)";
    }
    if (stat.equals(StatNames.INDUCTION_SCORE)) {
      return "mass on tokens that followed earlier copies (repeat probes)";
    }
    if (stat.equals(StatNames.NEEDLE_MASS)) {
      return "answer queries' mass on the needle (passkey probes)";
    }
    OptionalInt v;
    if ((v = StatNames.sinkTokens(stat)).isPresent()) {
      return "mass on the first "
          + v.getAsInt()
          + " token"
          + (v.getAsInt() == 1 ? "" : "s")
          + " (attention sinks)";
    }
    if ((v = StatNames.localWindow(stat)).isPresent()) {
      return "mass on the " + v.getAsInt() + " most recent keys (local band)";
    }
    if ((v = StatNames.deviationWindow(stat)).isPresent()) {
      return "output error when keeping only "
          + StatNames.deviationSinks(stat).getAsInt()
          + " sinks + a window of "
          + v.getAsInt()
          + "; low = streamable";
    }
    Matcher kl = OUTPUT_KL.matcher(stat);
    if (kl.matches()) {
      return "output KL when only this head's kv group keeps "
          + kl.group(1)
          + " sinks + a window of "
          + kl.group(2)
          + " (measured)";
    }
    if ((v = StatNames.heavyHitterPercent(stat)).isPresent()) {
      return "share of attention held by the top " + v.getAsInt() + " % of keys";
    }
    if ((v = StatNames.coverageWindow(stat)).isPresent()) {
      return "mass on "
          + StatNames.coverageSinks(stat).getAsInt()
          + " sinks + a window of "
          + v.getAsInt();
    }
    return "";
  }

  /**
   * The measured {@code output_kl_s{S}_w{w}} sensitivity (S = 4 or the smallest, middle window
   * below N), or null.
   */
  private static String outputKl(Collection<String> available, int bucket) {
    TreeSet<Integer> sinks = new TreeSet<>();
    for (String stat : available) {
      Matcher m = OUTPUT_KL.matcher(stat);
      if (m.matches()) {
        sinks.add(Integer.parseInt(m.group(1)));
      }
    }
    if (sinks.isEmpty()) {
      return null;
    }
    int s = sinks.contains(4) ? 4 : sinks.first();
    List<Integer> ws = new ArrayList<>();
    for (String stat : available) {
      Matcher m = OUTPUT_KL.matcher(stat);
      if (m.matches() && Integer.parseInt(m.group(1)) == s) {
        ws.add(Integer.parseInt(m.group(2)));
      }
    }
    ws.sort(Comparator.naturalOrder());
    List<Integer> under = ws.stream().filter(w -> w < bucket).toList();
    List<Integer> pool = under.isEmpty() ? ws : under;
    return "output_kl_s" + s + "_w" + pool.get(pool.size() / 2);
  }

  private static TreeSet<Integer> values(
      Collection<String> stats, Function<String, OptionalInt> f) {
    TreeSet<Integer> out = new TreeSet<>();
    for (String s : stats) {
      f.apply(s).ifPresent(out::add);
    }
    return out;
  }

  private static int nearestLog(List<Integer> candidates, double target) {
    int best = candidates.get(0);
    double bestD = Double.POSITIVE_INFINITY;
    for (int c : candidates) {
      double d = Math.abs(Math.log(c) - Math.log(Math.max(1, target)));
      if (d < bestD - 1e-9 || (Math.abs(d - bestD) <= 1e-9 && c > best)) {
        best = c;
        bestD = d;
      }
    }
    return best;
  }
}
