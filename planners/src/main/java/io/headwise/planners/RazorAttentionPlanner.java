package io.headwise.planners;

import io.headwise.schemas.PlanRow;
import io.headwise.schemas.StatNames;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * RazorAttention (Tang et al., arXiv 2407.15891): echo heads (attending to earlier occurrences of
 * the current token) and induction heads (attending to the token that followed them) keep the full
 * cache; every other kv head keeps {@code sink_tokens} sinks, a local window and one compensation
 * entry that summarises the dropped tokens (their mean key and mean value, with ln(count) added to
 * its logit; {@code compensation_tokens} = 1 in the row params, which the HeadwiseAttention export
 * evaluates). Rows are granularity {@code kv_head}, {@code full} or {@code streaming}.
 *
 * <p>Reconstruction choices:
 *
 * <ul>
 *   <li>Scores: {@code echo_score} and {@code induction_score} from the repeated-random-token
 *       probes, mean over the buckets where they were measured (weighted by query count), max over
 *       the query heads of a kv group (the msmodelslim GQA rule).
 *   <li>Selection: ranked over all layers × kv heads; retrieval = top ⌈{@code induction_share}·M⌉
 *       by induction ∪ top ⌈{@code echo_share}·M⌉ by echo (at least one each; ties to the lower
 *       layer, then head — by rank, not by value, so ties never over-select).
 *   <li>Window: the paper keeps the recent max(S0, N/C) tokens, proportional to N. With {@code
 *       window_mode=proportional} a compressed head keeps q·N tokens in all — sinks, window and the
 *       compensation token — with q = (F − ρ)/(1 − ρ) for retrieval share ρ, so the plan keeps
 *       exactly F at every length (alpha = −sink_tokens − compensation_tokens, beta = q: sinks +
 *       window + entry = max(sink + compensation_tokens, qN)). {@code fixed} uses one window for
 *       all lengths (alpha = window, beta = 0). The paper compresses once, after a prefill of N
 *       tokens with full attention; the plan's band applies at every query position n, where a
 *       proportional band keeps only q·n, so the two forms differ at every position before N.
 *       {@code auto} (default) takes the form of least predicted cost (below); fixed only when one
 *       window meets the budget at every target length. The compensation entry takes one slot of
 *       the kept budget: the window is one token shorter (alpha − 1), and {@link KvFraction} counts
 *       the entry whenever the head drops a token. When the retrieval heads alone reach F,
 *       compressed heads keep the minimum (sinks, one window token, the compensation token) and
 *       {@code budget_note} says so.
 *   <li>How many of the selected heads ({@code selection=search}, default): keeping a head full
 *       shortens every other head's window at the same budget, and the paper's shares (14 % + 1 %)
 *       are fixed. The candidates are the top m of the selection in Razor's order (the better of a
 *       head's induction and echo ranks) for m = all … 1, and the uniform rule (no head full, the
 *       uniform StreamingLLM span without an entry: the baseline plan itself). Each is costed by
 *       the profiled window statistic ({@link KvHeadWindowCost}: output KL, else stream deviation,
 *       else 1 − coverage; summed over compressed kv heads, each read at every query position's own
 *       band); the statistic is measured without the compensation entry, an approximation {@code
 *       predicted_cost} names. The cheapest is the plan ({@code chosen}; ties keep more heads);
 *       when it is the uniform rule {@code uniform_fallback} says so. Without a windowed statistic,
 *       or with {@code selection=paper}, the whole selection is used.
 * </ul>
 *
 * <p>Options: {@code induction_share} (0.14), {@code echo_share} (0.01), {@code sink_tokens} (4),
 * {@code window_mode} (auto | proportional | fixed), {@code selection} (search | paper), {@code
 * compensation} (mean | none: no entry, the window takes the slot). Needs {@code echo_score} and
 * {@code induction_score}.
 */
public final class RazorAttentionPlanner implements KvPlanner {
  public static final String METHOD = "razor";
  public static final String INDUCTION_SHARE = "induction_share";
  public static final String ECHO_SHARE = "echo_share";
  public static final String SINK_TOKENS = "sink_tokens";
  public static final String WINDOW_MODE = "window_mode";
  public static final String COMPENSATION = "compensation";

  static final String MODE_PROPORTIONAL = "proportional";
  static final String MODE_FIXED = "fixed";
  static final String MODE_AUTO = "auto";
  public static final String SELECTION = "selection";
  static final String SELECTION_SEARCH = "search";
  static final String SELECTION_PAPER = "paper";
  static final String UNIFORM = "uniform";
  static final String COMPENSATION_MEAN = "mean";
  static final String COMPENSATION_NONE = "none";
  static final String PROBE =
      "the repeated-random-token probes (RazorAttention-style calibration samples) of the"
          + " profile step";

  private static final List<OptionSpec> OPTIONS =
      List.of(
          new OptionSpec(
              INDUCTION_SHARE,
              "0.14",
              "share of kv heads kept full for the highest induction scores"),
          new OptionSpec(
              ECHO_SHARE, "0.01", "share of kv heads kept full for the highest echo scores"),
          new OptionSpec(SINK_TOKENS, "4", "attention-sink tokens kept by compressed heads"),
          new OptionSpec(
              WINDOW_MODE,
              MODE_AUTO,
              "auto: of proportional and fixed, the one of least predicted cost; proportional: the"
                  + " window grows with N as in the paper (N/C); fixed: one window for every length"),
          new OptionSpec(
              SELECTION,
              SELECTION_SEARCH,
              "search: the top m of Razor's selection (m = all … 1) and the uniform rule (no head"
                  + " full) are candidates, the one of least predicted window cost is the plan;"
                  + " paper: Razor's whole selection only"),
          new OptionSpec(
              COMPENSATION,
              COMPENSATION_MEAN,
              "mean: the dropped tokens of a compressed head are summarised"
                  + " by one compensation entry (mean key and value, logit + ln(count)) in the window's budget; none: no"
                  + " entry (the window takes its slot)"));

  @Override
  public String method() {
    return METHOD;
  }

  @Override
  public List<OptionSpec> options() {
    return OPTIONS;
  }

  @Override
  public Plan plan(PlanRequest request) {
    PlanOptions options = PlanOptions.resolve(METHOD, OPTIONS, request.options());
    double inductionShare = options.number(INDUCTION_SHARE, 0.0, 1.0);
    double echoShare = options.number(ECHO_SHARE, 0.0, 1.0);
    int sink = options.integer(SINK_TOKENS, 0);
    String mode = options.choice(WINDOW_MODE, MODE_AUTO, MODE_PROPORTIONAL, MODE_FIXED);
    int entries =
        options.choice(COMPENSATION, COMPENSATION_MEAN, COMPENSATION_NONE).equals(COMPENSATION_MEAN)
            ? 1
            : 0;
    HeadStatsTable stats = request.stats();
    stats.require(METHOD, StatNames.INDUCTION_SCORE, PROBE);
    stats.require(METHOD, StatNames.ECHO_SCORE, PROBE);

    int kvHeads = stats.numKvHeads();
    int total = stats.numLayers() * kvHeads;
    double[] echo = stats.kvGroupMax((l, h) -> stats.meanOverBuckets(l, h, StatNames.ECHO_SCORE));
    double[] induction =
        stats.kvGroupMax((l, h) -> stats.meanOverBuckets(l, h, StatNames.INDUCTION_SCORE));
    int inductionCount = Math.max(1, (int) Math.ceil(inductionShare * total - 1e-9));
    int echoCount = Math.max(1, (int) Math.ceil(echoShare * total - 1e-9));
    boolean[] byInduction = Ranking.top(induction, inductionCount);
    boolean[] byEcho = Ranking.top(echo, echoCount);
    double f = request.kvFraction();

    Map<String, Object> params = new LinkedHashMap<>();
    params.put("induction_share", inductionShare);
    params.put("echo_share", echoShare);
    params.put("induction_heads", inductionCount);
    params.put("echo_heads", echoCount);
    params.put("sink_tokens", sink);
    params.put(
        "score_rule",
        "echo/induction scores from repeated-token probes, mean over buckets, max over the"
            + " query heads of a kv group, ranked over all layers x kv heads");

    boolean[] razorFull = new boolean[total];
    for (int i = 0; i < total; i++) {
      razorFull[i] = byInduction[i] || byEcho[i];
    }
    // candidates: Razor's selection with each window rule allowed, and the uniform rule (no head
    // kept full, one fixed window: the uniform StreamingLLM plan's span), ranked by the profiled
    // window cost read at every query position's own band
    Optional<KvHeadWindowCost> windowCost =
        KvHeadWindowCost.of(stats, sink, request.targetLengths(), BucketEvidence.MAX);
    boolean search =
        options.choice(SELECTION, SELECTION_SEARCH, SELECTION_PAPER).equals(SELECTION_SEARCH)
            && windowCost.isPresent();
    // Razor's ranking decides which heads; with selection=search the cost decides how many: the
    // top m of the selection for m = all … 1, each with every window form allowed
    List<Integer> ranked = rankSelected(razorFull, induction, echo);
    List<Candidate> candidates = new ArrayList<>();
    for (int m = ranked.size(); m >= (search ? 1 : ranked.size()); m--) {
      boolean[] keep = new boolean[total];
      for (int r = 0; r < m; r++) {
        keep[ranked.get(r)] = true;
      }
      String name = m == ranked.size() ? "razor" : "razor_top" + m;
      Sizing fixed = Sizing.of(MODE_FIXED, m, total, f, sink, entries, request);
      if (!mode.equals(MODE_FIXED)) {
        candidates.add(
            new Candidate(
                name + "_" + MODE_PROPORTIONAL,
                keep,
                Sizing.of(MODE_PROPORTIONAL, m, total, f, sink, entries, request)));
      }
      // auto: the fixed window only where one window meets the budget at every target length
      if (mode.equals(MODE_FIXED) || mode.equals(MODE_AUTO) && fixed.note() == null) {
        candidates.add(new Candidate(name + "_" + MODE_FIXED, keep, fixed));
      }
    }
    Candidate chosen = candidates.get(0);
    if (search) {
      KvHeadWindowCost c = windowCost.get();
      // the uniform rule as the StreamingLLM baseline sizes it: one fixed window when it meets the
      // budget at every target length, else proportional; without the compensation entry, so that
      // the fallback is the baseline plan itself (the entry's effect is not in the statistics: it
      // measured better than uniform on one model and worse on another)
      Sizing uniformFixed = Sizing.of(MODE_FIXED, 0, total, f, sink, 0, request);
      candidates.add(
          uniformFixed.note() == null
              ? new Candidate(UNIFORM, new boolean[total], uniformFixed)
              : new Candidate(
                  UNIFORM,
                  new boolean[total],
                  Sizing.of(MODE_PROPORTIONAL, 0, total, f, sink, 0, request)));
      Map<String, Object> predicted = new LinkedHashMap<>();
      double best = Double.POSITIVE_INFINITY;
      // a candidate that misses the budget (its sizing says why) is chosen only if every one does:
      // keeping more than F would otherwise always look cheaper
      boolean anyMeetsBudget = candidates.stream().anyMatch(x -> x.sizing().note() == null);
      for (Candidate candidate : candidates) {
        Sizing z = candidate.sizing();
        double cost =
            KvHeadWindowCost.streamingCost(c.atBand(z.alpha(), z.beta(), sink), candidate.full());
        predicted.put(candidate.name(), cost);
        if (anyMeetsBudget && z.note() != null) {
          continue;
        }
        if (cost < best - 1e-12) {
          best = cost;
          chosen = candidate;
        }
      }
      predicted.put("statistic", c.statistic());
      predicted.put(
          "approximation",
          "summed over compressed kv heads (max over each group's query heads), read at every"
              + " query position's own window; the statistic is measured without the compensation"
              + " entry");
      params.put("predicted_cost", predicted);
      params.put("chosen", chosen.name());
      if (chosen.name().equals(UNIFORM)) {
        params.put(
            "uniform_fallback",
            "keeping any of Razor's "
                + count(razorFull)
                + " echo/induction heads full (the top m of its ranking, m = 1 … "
                + count(razorFull)
                + ") costs more predicted "
                + c.statistic()
                + " than the uniform rule at the same budget: no head is kept full");
      }
      if (!c.warnings().isEmpty()) {
        params.put("warnings", c.warnings());
      }
    } else {
      params.put(
          "predicted_cost",
          windowCost.isPresent()
              ? "not compared (selection=paper); Razor's selection with the "
                  + chosen.sizing().params().get("window_mode")
                  + " window is used"
              : "not compared: the stats have no windowed statistic (stream_deviation or"
                  + " coverage); Razor's selection with the "
                  + chosen.sizing().params().get("window_mode")
                  + " window is used");
    }
    boolean[] full = chosen.full();
    Sizing sizing = chosen.sizing();
    int chosenEntries = chosen.name().equals(UNIFORM) ? 0 : entries;
    params.put(
        "compensation_token",
        chosenEntries == 1 ? "mean of dropped keys and values, logit + ln(dropped count)" : "none");
    params.put("compensation_tokens", chosenEntries);
    int retrieval = count(full);
    params.put("retrieval_heads", retrieval);
    params.put("retrieval_share", (double) retrieval / total);
    params.putAll(sizing.params());
    String note = sizing.note();
    double share = (double) retrieval / total;
    if (note == null && share > f + KvFraction.ABOVE_TARGET_TOLERANCE) {
      note = "the retrieval heads alone exceed F";
    }
    double alpha = sizing.alpha();
    double beta = sizing.beta();
    double a = alpha;
    double b = beta;
    boolean[] keep = full;
    List<HeadPolicy> heads =
        PlanAssembly.perKvHead(
            stats,
            (l, k, i) -> {
              HeadPolicy h =
                  keep[i]
                      ? HeadPolicy.full(l, k)
                      : HeadPolicy.span(l, k, PlanRow.STREAMING, sink, a, b);
              h.with("echo_score", echo[i]).with("induction_score", induction[i]);
              if (keep[i]) {
                h.with(
                    "retrieval_reason",
                    byInduction[i] && byEcho[i]
                        ? "induction+echo"
                        : byInduction[i] ? "induction" : "echo");
              }
              return h;
            });
    return PlanAssembly.assemble(request, METHOD, PlanRow.KV_HEAD, heads, params, note, List.of());
  }

  private static int count(boolean[] marks) {
    int n = 0;
    for (boolean m : marks) {
      n += m ? 1 : 0;
    }
    return n;
  }

  /**
   * The selected kv heads in Razor's order: by the better of their induction and echo ranks over
   * all heads, induction first on a tie, then layer-major.
   */
  static List<Integer> rankSelected(boolean[] selected, double[] induction, double[] echo) {
    int[] inductionRank = Ranking.ranks(induction);
    int[] echoRank = Ranking.ranks(echo);
    List<Integer> out = new ArrayList<>();
    for (int i = 0; i < selected.length; i++) {
      if (selected[i]) {
        out.add(i);
      }
    }
    out.sort(
        Comparator.<Integer>comparingInt(i -> Math.min(inductionRank[i], echoRank[i]))
            .thenComparingInt(i -> inductionRank[i] <= echoRank[i] ? 0 : 1)
            .thenComparingInt(i -> i));
    return out;
  }

  /** One candidate plan: the kv heads kept full and the span of the others. */
  private record Candidate(String name, boolean[] full, Sizing sizing) {}

  /** The span of compressed heads for a retrieval share: alpha + beta·N, with its params. */
  private record Sizing(double alpha, double beta, Map<String, Object> params, String note) {

    static Sizing of(
        String mode,
        int retrieval,
        int total,
        double f,
        int sink,
        int entries,
        PlanRequest request) {
      double share = (double) retrieval / total;
      int minimumKept = sink + 1 + entries; // sinks, one window token, the compensation entry
      Map<String, Object> params = new LinkedHashMap<>();
      String note = null;
      double alpha;
      double beta;
      double q = share < 1 ? (f - share) / (1 - share) : 0.0;
      if (mode.equals(MODE_PROPORTIONAL)) {
        if (q * request.minLength() >= minimumKept) {
          alpha = -sink - entries;
          beta = q;
          params.put("window_mode", MODE_PROPORTIONAL);
          params.put("kept_ratio", q);
          params.put(
              "span",
              "compressed heads keep q*N entries: sink_tokens sinks, compensation_tokens"
                  + " compensation entries and a local window of the rest (C = 1/q in the"
                  + " paper's N/C)");
        } else {
          alpha = 1;
          beta = 0.0;
          params.put("window_mode", MODE_FIXED);
          params.put("local_window", 1);
          note =
              "the "
                  + retrieval
                  + " retrieval heads ("
                  + String.format("%.3f", share)
                  + " of kv heads) leave no"
                  + " room for a window within F="
                  + f
                  + " at length "
                  + request.minLength()
                  + "; compressed heads keep"
                  + " the minimum ("
                  + sink
                  + " sinks, 1 window token, "
                  + entries
                  + " compensation entry), so the plan"
                  + " keeps more than F";
        }
      } else {
        SpanSizing.Result sized =
            SpanSizing.fixedKept(request.targetLengths(), f, share, minimumKept);
        alpha = sized.kept() - sink - entries;
        beta = 0.0;
        params.put("window_mode", MODE_FIXED);
        params.put("local_window", sized.kept() - sink - entries);
        params.put(
            "span",
            "alpha = local window; the compensation entries come on top (counted in the kept"
                + " budget)");
        if (!sized.withinTolerance()) {
          note =
              share >= f - KvFraction.BELOW_TARGET_TOLERANCE
                  ? "the retrieval heads alone keep "
                      + String.format("%.3f", share)
                      + " of the cache, at or above what F="
                      + f
                      + " allows; compressed heads keep as little as the fixed window allows"
                  : "one fixed window cannot keep a fraction within [F-0.1, F+0.02] at every"
                      + " target length "
                      + request.targetLengths()
                      + "; the least-violating window is used";
        }
      }
      return new Sizing(alpha, beta, params, note);
    }
  }
}
