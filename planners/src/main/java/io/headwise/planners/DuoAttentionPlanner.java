package io.headwise.planners;

import io.headwise.schemas.HeadwiseException;
import io.headwise.schemas.PlanRow;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

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
 *       stream_deviation_s{S}_w{w}} (the head's output deviation, weighted by {@code
 *       head_output_energy} over its layer's mean and scaled to the layer's measured {@code
 *       layer_output_kl} when profiled, see {@link HeadStatsTable}), interpolated at w =
 *       recent_tokens, combined over every profiled length bucket T as {@link BucketEvidence}
 *       defines (the largest cost; window scaled by T/N when T &lt; N; option {@code
 *       bucket_evidence}), averaged over the target lengths, max over the query heads of a kv group
 *       (the group shares one cache). The stats are profiled with small sink counts (S = 4 by
 *       default), not Duo's 64 sinks: S is the largest profiled sink count ≤ sink_tokens, so the
 *       scored policy keeps a subset of the deployed one — a conservative proxy that is recorded in
 *       {@code score_statistic}. Without stream deviation the score is 1 − coverage_s{S}_w{w}
 *       (dropped attention mass).
 *   <li>Sizing ({@code sizing=search}, the default with {@code retrieval_share=auto}): Duo's
 *       deployment fixes the streaming sizes (64 + 256) and sets the sparsity; at a KV fraction F
 *       and target lengths N the sizes and the retrieval count trade against each other, so the
 *       planner compares candidates by their predicted cost, the summed score of the streaming
 *       heads at their window (the additive approximation MoA's objective also makes). The
 *       candidates: Duo's deployment sizes (below) and, for every retrieval count m = 0 … all, the
 *       window that fills the budget with S sinks, S the profiled sink count (so the score prices
 *       exactly the deployed policy). m = 0 is the uniform StreamingLLM plan, so the plan is never
 *       predicted worse than uniform; when it is chosen {@code budget_note} says so. Every
 *       candidate and its cost is in {@code sizing_candidates}.
 *   <li>Deployment sizes ({@code sizing=deployment}, or an explicit share): streaming heads keep k
 *       = sink + recent tokens; with a retrieval share ρ the plan keeps ρ + (1 − ρ)·min(N, k)/N.
 *       When k exceeds half the budget at the shortest target length (F·N_min/2) sink and recent
 *       are shrunk proportionally to fit, leaving room for retrieval heads, and {@code sizes_note}
 *       says so. With {@code retrieval_share=auto} the number of retrieval heads is the one whose
 *       fraction is closest to F (least squares over the target lengths, inside [F − 0.1, F + 0.02]
 *       when possible) — DuoAttention's defaults (50 % retrieval for GQA, 25 % for MHA) are
 *       recorded as {@code default_retrieval_share} and are what a matching F reproduces. An
 *       explicit share is used as given.
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
 * or a number in [0, 1]), {@code sizing} (search | deployment), {@code bucket_evidence}. Needs
 * {@code stream_deviation_s{S}_w{w}} or {@code coverage_s{S}_w{w}} for every head.
 */
public final class DuoAttentionPlanner implements KvPlanner {
  public static final String METHOD = "duo";
  public static final String SINK_TOKENS = "sink_tokens";
  public static final String RECENT_TOKENS = "recent_tokens";
  public static final String RETRIEVAL_SHARE = "retrieval_share";
  public static final String BUCKET_EVIDENCE = "bucket_evidence";
  public static final String SIZING = "sizing";

  static final String SIZING_SEARCH = "search";
  static final String SIZING_DEPLOYMENT = "deployment";

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
                  + " scaled by bucket/N); nearest: the bucket nearest the target length only"),
          new OptionSpec(
              SIZING,
              SIZING_SEARCH,
              "search: with retrieval_share=auto, the retrieval-head count and streaming window of"
                  + " least predicted cost at the KV fraction, Duo's deployment sizes and the"
                  + " uniform rule (no retrieval head) among the candidates; deployment: Duo's"
                  + " sink/recent sizes (shrunk to half the budget when they exceed it) only"));

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
    String evidenceMode =
        options.choice(BUCKET_EVIDENCE, BucketEvidence.MAX, BucketEvidence.NEAREST);
    String sizing = options.choice(SIZING, SIZING_SEARCH, SIZING_DEPLOYMENT);
    boolean autoShare = options.isAuto(RETRIEVAL_SHARE);
    Map<String, Object> params = new LinkedHashMap<>();

    // Duo's deployment sizes, shrunk when they exceed half the budget at the shortest length
    int sink = requestedSink;
    int recent = requestedRecent;
    double limit = Math.floor(f * request.minLength() / 2.0);
    String sizesNote = null;
    if (sink + recent > limit) {
      double scale = Math.max(limit, 2) / (sink + recent);
      sink = requestedSink == 0 ? 0 : Math.max(1, (int) Math.floor(requestedSink * scale));
      recent = Math.max(1, (int) Math.floor(Math.max(limit, 2)) - sink);
      sizesNote =
          "sink_tokens "
              + requestedSink
              + " + recent_tokens "
              + requestedRecent
              + " exceed half of the budget F*N at the shortest target length "
              + request.minLength()
              + "; shrunk proportionally to "
              + sink
              + " + "
              + recent;
    }
    KvHeadWindowCost cost =
        KvHeadWindowCost.of(stats, sink, lengths, evidenceMode)
            .orElseThrow(
                () ->
                    new HeadwiseException(
                        "method duo needs statistic 'stream_deviation_s{S}_w{w}' (or, as a"
                            + " fallback, 'coverage_s{S}_w{w}') for every head, but the head stats"
                            + " of model "
                            + stats.modelId()
                            + " have neither; they are produced by the profile step for each sink"
                            + " count S and window w of its grids"));
    int total = stats.numLayers() * stats.numKvHeads();

    // retrieval count for the deployment sizes
    int kept = sink + recent;
    int retrieval;
    String recentNote = null;
    if (autoShare) {
      retrieval = bestRetrievalCount(lengths, f, kept, total);
      if (!meetsTolerance(lengths, f, (double) retrieval / total, kept)) {
        // whole heads are coarse: shorten the recent window until some head count meets the
        // tolerance
        for (int k = kept - 1; k > sink; k--) {
          int m = bestRetrievalCount(lengths, f, k, total);
          if (meetsTolerance(lengths, f, (double) m / total, k)) {
            recentNote =
                "recent_size shortened from "
                    + recent
                    + " to "
                    + (k - sink)
                    + " so that a whole number of retrieval heads meets the KV fraction at every"
                    + " target length";
            recent = k - sink;
            kept = k;
            retrieval = m;
            break;
          }
        }
      }
    } else {
      retrieval = (int) Math.round(options.number(RETRIEVAL_SHARE, 0.0, 1.0) * total);
    }
    Candidate chosen = Candidate.of("deployment", sink, recent, retrieval, cost);
    Candidate deployment = chosen;
    List<Map<String, Object>> searched = new ArrayList<>();
    if (autoShare && SIZING_SEARCH.equals(sizing)) {
      // every retrieval count with the window that fills the budget; m = 0 is the uniform rule
      int searchSink = Math.min(requestedSink, cost.statSinks());
      for (int m = 0; m <= total; m++) {
        SpanSizing.Result sized =
            SpanSizing.fixedKept(lengths, f, (double) m / total, searchSink + 1);
        if (!sized.withinTolerance()) {
          continue;
        }
        Candidate c = Candidate.of("search", searchSink, sized.kept() - searchSink, m, cost);
        searched.add(c.describe());
        if (c.predictedCost() < chosen.predictedCost() - 1e-12) {
          chosen = c;
        }
      }
    }
    sink = chosen.sink();
    recent = chosen.recent();
    kept = sink + recent;
    retrieval = chosen.retrieval();
    if (chosen == deployment) {
      if (sizesNote != null) {
        params.put("sizes_note", sizesNote);
      }
      if (recentNote != null) {
        params.put("recent_note", recentNote);
      }
    }
    double[] score = chosen.score();
    boolean[] isRetrieval = chosen.full();
    Integer[] order = chosen.order();
    List<Map<String, Object>> evidence = cost.evidence(recent);
    int g = stats.groupSize();
    double defaultShare = g > 1 ? GQA_DEFAULT_SHARE : MHA_DEFAULT_SHARE;

    params.put("sink_size", sink);
    params.put("recent_size", recent);
    params.put("requested_sink_size", requestedSink);
    params.put("requested_recent_size", requestedRecent);
    params.put("retrieval_heads", retrieval);
    params.put("retrieval_share", (double) retrieval / total);
    params.put("sparsity", 1.0 - (double) retrieval / total);
    params.put("default_retrieval_share", defaultShare);
    params.put("threshold", retrieval > 0 ? score[order[retrieval - 1]] : null);
    params.put("sizing", autoShare ? sizing : "explicit retrieval_share");
    params.put("predicted_cost", chosen.predictedCost());
    params.put("deployment_sizes", deployment.describe());
    if (!searched.isEmpty()) {
      params.put("sizing_candidates", searched);
    }
    params.put("bucket_evidence", evidenceMode);
    params.put("buckets_read", cost.bucketsRead());
    if (!cost.warnings().isEmpty()) {
      params.put("warnings", cost.warnings());
    }
    params.put(
        "score_statistic",
        cost.statistic()
            + " at w = recent_size, "
            + (BucketEvidence.MAX.equals(evidenceMode)
                ? "the largest over every profiled bucket T"
                : "at the bucket" + " nearest N")
            + " (window scaled by T/N when T < N), mean over target lengths, max over the query"
            + " heads of the kv group"
            + (cost.statSinks() < sink
                ? "; profiled with "
                    + cost.statSinks()
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
    if (retrieval == 0 && autoShare) {
      note =
          "no retrieval head lowers the predicted cost ("
              + cost.statistic()
              + ", summed over streaming heads) below the uniform rule at this budget: every head"
              + " streams "
              + sink
              + " sinks + "
              + recent
              + " recent tokens, the uniform StreamingLLM plan";
    } else if (!meetsTolerance(lengths, f, (double) retrieval / total, kept)) {
      note =
          autoShare
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
    return PlanAssembly.assemble(request, METHOD, PlanRow.KV_HEAD, heads, params, note, List.of());
  }

  /**
   * One sizing: sinks and recent tokens for every streaming head, the m kv heads with the highest
   * cost at that window kept full, and the summed cost of the rest.
   */
  private record Candidate(
      String origin,
      int sink,
      int recent,
      int retrieval,
      double[] score,
      Integer[] order,
      boolean[] full,
      double predictedCost) {

    static Candidate of(String origin, int sink, int recent, int retrieval, KvHeadWindowCost cost) {
      double[] score = cost.at(recent);
      Integer[] order = Ranking.descending(score);
      boolean[] full = new boolean[score.length];
      for (int i = 0; i < Math.min(retrieval, score.length); i++) {
        full[order[i]] = true;
      }
      return new Candidate(
          origin,
          sink,
          recent,
          retrieval,
          score,
          order,
          full,
          KvHeadWindowCost.streamingCost(score, full));
    }

    Map<String, Object> describe() {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("origin", origin);
      m.put("retrieval_heads", retrieval);
      m.put("sink_size", sink);
      m.put("recent_size", recent);
      m.put("predicted_cost", predictedCost);
      return m;
    }
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
