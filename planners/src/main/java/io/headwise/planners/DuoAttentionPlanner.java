package io.headwise.planners;

import io.headwise.schemas.HeadwiseException;
import io.headwise.schemas.PlanRow;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SortedSet;
import java.util.TreeSet;

/**
 * DuoAttention, training-free (after Xiao et al., mit-han-lab/duo-attention): kv heads are split
 * into retrieval heads, which keep the full cache, and streaming heads, which keep {@code
 * sink_tokens} attention sinks plus the {@code recent_tokens} most recent tokens. Rows are
 * granularity {@code kv_head}, {@code full} or {@code streaming} (alpha = recent tokens, beta = 0).
 *
 * <p>Reconstruction choices (DuoAttention learns a gate per kv head by distillation; there is no
 * training-free variant upstream, planners.md §2):
 *
 * <ul>
 *   <li>Score: the output error of switching a head to sink + recent: {@code output_kl_s{S}_w{w}}
 *       (the model's next-token KL measured by {@code profile --sensitivity}, DuoAttention's own
 *       objective measured by ablation) when the stats have it, else {@code
 *       stream_deviation_s{S}_w{w}} (the head's output deviation), interpolated at w =
 *       recent_tokens, combined over every profiled length bucket T as {@link BucketEvidence}
 *       defines (the largest cost; window scaled by T/N when T &lt; N; option {@code
 *       bucket_evidence}), averaged over the target lengths, max over the query heads of a kv group
 *       (the group shares one cache). The stats are profiled with small sink counts (S = 4 by
 *       default), not Duo's 64 sinks: S is the largest profiled sink count ≤ sink_tokens, so the
 *       scored policy keeps a subset of the deployed one — a conservative proxy that is recorded in
 *       {@code score_statistic}. Without stream deviation the score is 1 − coverage_s{S}_w{w}
 *       (dropped attention mass).
 *   <li>Sizing: streaming heads keep k = sink + recent tokens; with a retrieval share ρ the plan
 *       keeps ρ + (1 − ρ)·min(N, k)/N. When k exceeds half the budget at the shortest target length
 *       (F·N_min/2) sink and recent are shrunk proportionally to fit, leaving room for retrieval
 *       heads, and {@code sizes_note} says so (this also keeps the window below the profiled
 *       length, where deviations are informative). With {@code retrieval_share=auto} the number of
 *       retrieval heads is the one whose fraction is closest to F (least squares over the target
 *       lengths, inside [F − 0.1, F + 0.02] when possible) — DuoAttention's defaults (50 %
 *       retrieval for GQA, 25 % for MHA) are recorded as {@code default_retrieval_share} and are
 *       what a matching F reproduces. An explicit share is used as given.
 *   <li>Selection: the top-m kv heads by score (Duo thresholds at the quantile of the gates; ties
 *       go to the lower layer, then head, instead of Duo's random noise); {@code threshold} is the
 *       m-th score (a score, not one of Duo's gates).
 * </ul>
 *
 * <p>With Duo's own loader: {@code sparsity} in the params is 1 − m/(layers·kv heads), the share of
 * streaming kv heads. {@code export-format --format duo} writes gates in [0, 1] that keep this
 * plan's ranking and a {@code config.json} with the same {@code sparsity}; DuoAttention's {@code
 * load_attn_pattern} + {@code sparsify_attention_heads(gates, sparsity=...)} ({@code --sparsity} in
 * its scripts) with that value selects exactly this plan's full heads (tested with a
 * re-implementation of the loader, {@code DuoAttentionFormat}).
 *
 * <p>Options: {@code sink_tokens} (64), {@code recent_tokens} (256), {@code retrieval_share} (auto
 * or a number in [0, 1]). Needs {@code stream_deviation_s{S}_w{w}} or {@code coverage_s{S}_w{w}}
 * for every head.
 */
public final class DuoAttentionPlanner implements KvPlanner {
  public static final String METHOD = "duo";
  public static final String SINK_TOKENS = "sink_tokens";
  public static final String RECENT_TOKENS = "recent_tokens";
  public static final String RETRIEVAL_SHARE = "retrieval_share";
  public static final String BUCKET_EVIDENCE = "bucket_evidence";

  static final double GQA_DEFAULT_SHARE = 0.5;
  static final double MHA_DEFAULT_SHARE = 0.25;

  private static final List<OptionSpec> OPTIONS =
      List.of(
          new OptionSpec(
              SINK_TOKENS,
              "64",
              "attention-sink tokens kept by streaming heads (Duo deployment: 64)"),
          new OptionSpec(
              RECENT_TOKENS, "256", "recent tokens kept by streaming heads (Duo deployment: 256)"),
          new OptionSpec(
              RETRIEVAL_SHARE,
              PlanOptions.AUTO,
              "share of kv heads kept full; auto: the share that meets the KV fraction"),
          new OptionSpec(
              BUCKET_EVIDENCE,
              BucketEvidence.MAX,
              "max: a head's score is the largest over every profiled length bucket (shorter buckets at the window"
                  + " scaled by bucket/N); nearest: the bucket nearest the target length only"));

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
    HeadStatsTable stats = request.stats();
    int requestedSink = options.integer(SINK_TOKENS, 0);
    int requestedRecent = options.integer(RECENT_TOKENS, 1);
    double f = request.kvFraction();
    List<Integer> lengths = request.targetLengths();

    // sizes: leave at least half the budget at the shortest length to retrieval heads
    int sink = requestedSink;
    int recent = requestedRecent;
    Map<String, Object> params = new LinkedHashMap<>();
    double limit = Math.floor(f * request.minLength() / 2.0);
    if (sink + recent > limit) {
      double scale = Math.max(limit, 2) / (sink + recent);
      sink = requestedSink == 0 ? 0 : Math.max(1, (int) Math.floor(requestedSink * scale));
      recent = Math.max(1, (int) Math.floor(Math.max(limit, 2)) - sink);
      params.put(
          "sizes_note",
          "sink_tokens "
              + requestedSink
              + " + recent_tokens "
              + requestedRecent
              + " exceed half of the budget F*N at the shortest target length "
              + request.minLength()
              + "; shrunk proportionally to "
              + sink
              + " + "
              + recent);
    }

    // scores per kv head
    SortedSet<Integer> klSinks = stats.sinkCounts(WindowedStat.OUTPUT_KL);
    SortedSet<Integer> devSinks = stats.sinkCounts(WindowedStat.STREAM_DEVIATION);
    SortedSet<Integer> covSinks = stats.sinkCounts(WindowedStat.COVERAGE);
    WindowedStat family;
    SortedSet<Integer> sinkChoices;
    if (!klSinks.isEmpty()) {
      // the measured output KL of switching the kv head to sinks + window: DuoAttention's own
      // objective (the
      // distillation error of the model's output), measured by ablation instead of learned gates
      family = WindowedStat.OUTPUT_KL;
      sinkChoices = klSinks;
    } else if (!devSinks.isEmpty()) {
      family = WindowedStat.STREAM_DEVIATION;
      sinkChoices = devSinks;
    } else if (!covSinks.isEmpty()) {
      family = WindowedStat.COVERAGE;
      sinkChoices = covSinks;
    } else {
      throw new HeadwiseException(
          "method duo needs statistic 'stream_deviation_s{S}_w{w}' (or, as a fallback,"
              + " 'coverage_s{S}_w{w}') for every head, but the head stats of model "
              + stats.modelId()
              + " have"
              + " neither; they are produced by the profile step for each sink count S and window w of its grids");
    }
    SortedSet<Integer> atMostSink = sinkChoices.headSet(sink + 1);
    int statSinks = atMostSink.isEmpty() ? sinkChoices.first() : atMostSink.last();
    int kvHeads = stats.numKvHeads();
    int g = stats.groupSize();
    int total = stats.numLayers() * kvHeads;
    double[] score = new double[total];
    String statistic =
        family == WindowedStat.OUTPUT_KL
            ? "output_kl_s" + statSinks
            : family == WindowedStat.STREAM_DEVIATION
                ? "stream_deviation_s" + statSinks
                : "1 - coverage_s" + statSinks;
    String evidenceMode =
        options.choice(BUCKET_EVIDENCE, BucketEvidence.MAX, BucketEvidence.NEAREST);
    List<Map<String, Object>> evidence = new ArrayList<>();
    for (int i = 0; i < total; i++) {
      evidence.add(new LinkedHashMap<>());
    }
    List<String> warnings = new ArrayList<>();
    Set<Integer> bucketsRead = new TreeSet<>();
    for (int length : lengths) {
      BucketEvidence bucketEvidence =
          new BucketEvidence(stats, family, statSinks, length, evidenceMode);
      bucketsRead.addAll(bucketEvidence.buckets());
      String missing = bucketEvidence.missingWarning(statistic);
      if (missing != null) {
        warnings.add(missing);
      }
      for (int l = 0; l < stats.numLayers(); l++) {
        for (int k = 0; k < kvHeads; k++) {
          BucketEvidence.Evidence groupMax = null;
          for (int h = k * g; h < (k + 1) * g; h++) {
            BucketEvidence.Evidence e = bucketEvidence.at(l, h, recent);
            if (groupMax == null || e.cost() > groupMax.cost()) {
              groupMax = e;
            }
          }
          score[l * kvHeads + k] += groupMax.cost() / lengths.size();
          evidence
              .get(l * kvHeads + k)
              .put(String.valueOf(length), BucketEvidence.describe(statistic, recent, groupMax));
        }
      }
    }

    // retrieval count
    int kept = sink + recent;
    double defaultShare = g > 1 ? GQA_DEFAULT_SHARE : MHA_DEFAULT_SHARE;
    int retrieval;
    if (options.isAuto(RETRIEVAL_SHARE)) {
      retrieval = bestRetrievalCount(lengths, f, kept, total);
      if (!meetsTolerance(lengths, f, (double) retrieval / total, kept)) {
        // whole heads are coarse: shorten the recent window until some head count meets the
        // tolerance
        for (int k = kept - 1; k > sink; k--) {
          int m = bestRetrievalCount(lengths, f, k, total);
          if (meetsTolerance(lengths, f, (double) m / total, k)) {
            params.put(
                "recent_note",
                "recent_size shortened from "
                    + recent
                    + " to "
                    + (k - sink)
                    + " so that a whole number of retrieval heads meets the KV fraction at every target length");
            recent = k - sink;
            kept = k;
            retrieval = m;
            break;
          }
        }
      }
    } else {
      double share = options.number(RETRIEVAL_SHARE, 0.0, 1.0);
      retrieval = (int) Math.round(share * total);
    }
    Integer[] order = new Integer[total];
    for (int i = 0; i < total; i++) {
      order[i] = i;
    }
    Arrays.sort(
        order, Comparator.<Integer>comparingDouble(i -> -score[i]).thenComparingInt(i -> i));
    boolean[] isRetrieval = new boolean[total];
    for (int i = 0; i < retrieval; i++) {
      isRetrieval[order[i]] = true;
    }

    params.put("sink_size", sink);
    params.put("recent_size", recent);
    params.put("requested_sink_size", requestedSink);
    params.put("requested_recent_size", requestedRecent);
    params.put("retrieval_heads", retrieval);
    params.put("retrieval_share", (double) retrieval / total);
    params.put("sparsity", 1.0 - (double) retrieval / total);
    params.put("default_retrieval_share", defaultShare);
    params.put("threshold", retrieval > 0 ? score[order[retrieval - 1]] : null);
    params.put("bucket_evidence", evidenceMode);
    params.put("buckets_read", List.copyOf(bucketsRead));
    if (!warnings.isEmpty()) {
      params.put("warnings", warnings);
    }
    params.put(
        "score_statistic",
        statistic
            + " at w = recent_size, "
            + (BucketEvidence.MAX.equals(evidenceMode)
                ? "the largest over every profiled bucket T"
                : "at the bucket" + " nearest N")
            + " (window scaled by T/N when T < N), mean over target lengths, max over the query"
            + " heads of the kv group"
            + (statSinks < sink
                ? "; profiled with "
                    + statSinks
                    + " sinks instead of "
                    + sink
                    + ", so it scores a subset of the deployed tokens (conservative)"
                : ""));
    int sinkTokens = sink;
    int recentTokens = recent;
    List<HeadPolicy> heads =
        PlanAssembly.perKvHead(
            stats,
            (l, k, i) ->
                (isRetrieval[i]
                        ? HeadPolicy.full(l, k)
                        : HeadPolicy.span(l, k, PlanRow.STREAMING, sinkTokens, recentTokens, 0.0))
                    .with("score", score[i])
                    .with("retrieval", isRetrieval[i])
                    .with("evidence", evidence.get(i)));
    String note = null;
    if (!meetsTolerance(lengths, f, (double) retrieval / total, kept)) {
      {
        note =
            options.isAuto(RETRIEVAL_SHARE)
                ? "no whole number of retrieval heads with streaming heads of "
                    + kept
                    + " tokens keeps a fraction"
                    + " within [F-0.1, F+0.02] at every target length "
                    + lengths
                    + "; the closest count is used"
                : "retrieval_share "
                    + options.string(RETRIEVAL_SHARE)
                    + " was given explicitly; it does not meet F at"
                    + " every target length";
      }
    }
    return PlanAssembly.assemble(request, METHOD, PlanRow.KV_HEAD, heads, params, note, List.of());
  }

  private static boolean meetsTolerance(List<Integer> lengths, double f, double share, int kept) {
    for (int n : lengths) {
      if (!KvFraction.withinTolerance(SpanSizing.fraction(share, kept, n), f)) {
        return false;
      }
    }
    return true;
  }

  /**
   * The retrieval-head count whose plan fraction is closest to F over the lengths, inside the
   * tolerance if any.
   */
  static int bestRetrievalCount(List<Integer> lengths, double f, int kept, int total) {
    int best = 0;
    double bestError = Double.POSITIVE_INFINITY;
    boolean bestInside = false;
    for (int m = 0; m <= total; m++) {
      double share = (double) m / total;
      double error = 0;
      boolean inside = true;
      for (int n : lengths) {
        double fraction = SpanSizing.fraction(share, kept, n);
        error += (fraction - f) * (fraction - f);
        inside &= KvFraction.withinTolerance(fraction, f);
      }
      if (inside && !bestInside || inside == bestInside && error < bestError) {
        best = m;
        bestError = error;
        bestInside = inside;
      }
    }
    return best;
  }
}
