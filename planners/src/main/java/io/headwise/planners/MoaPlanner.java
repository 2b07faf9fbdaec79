package io.headwise.planners;

import io.headwise.planners.moa.MoaParetoFront;
import io.headwise.planners.moa.MoaProblem;
import io.headwise.planners.moa.MoaRule;
import io.headwise.planners.moa.MoaRuleGrid;
import io.headwise.planners.moa.MoaSolution;
import io.headwise.planners.moa.MoaSolver;
import io.headwise.schemas.HeadwiseException;
import io.headwise.schemas.PlanRow;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * MoA, Mixture of Sparse Attention (Fu et al., thu-nics/MoA): every query head gets an elastic rule
 * — it keeps span α + β·N tokens at length N, the first S of them attention sinks — chosen jointly
 * for all heads to minimise the estimated loss under a KV-density budget at every target length,
 * with at most 2 distinct rules per layer.
 *
 * <p>Reconstruction choices:
 *
 * <ul>
 *   <li>Rules: MoA's grid ({@link MoaRuleGrid}) with N_min / N_max the shortest / longest target
 *       length and N_prof ({@code profile_length}, default: the longest profiled bucket, clamped to
 *       [N_min, N_max]). The α step ({@code alpha_step}) defaults to N_max/16, which is MoA's 1024
 *       at its N_max of 16384 and scales the grid to other lengths; β from {@code betas} (MoA's
 *       nine values by default).
 *   <li>Cost: instead of MoA's gradient-weighted attention influence, the inference-only "exact
 *       deviation per rule" of planners.md: cost(h, r, N) = s_l · {@code
 *       stream_deviation_s{S}_w{w}} interpolated (log-linear in w) at the rule's band w = kept(N) −
 *       S, kept(N) = min(N, S + max(0, α − S + β·N)); 0 when the rule keeps everything. The
 *       deviation is weighted by {@code head_output_energy} over its layer's mean when profiled
 *       ({@link HeadStatsTable}: each head's part of the layer's relative output deviation), and
 *       each layer's by its measured {@code layer_output_kl} per unit of that deviation when
 *       profiled (the per-layer factor of MoA's gradient-weighted cost, measured). When the stats
 *       have {@code output_kl_s{S}_w{w}} ({@code profile --sensitivity}: the model's next-token KL
 *       when one kv-head group is switched to the rule's tokens), that measured cost is used
 *       instead, split evenly over the group's query heads. When the stats have neither at sink
 *       count S, cost = 1 − coverage_s{S}_w{w} (MoA's cheapest option, the dropped mass). Evidence
 *       across length buckets ({@link BucketEvidence}, option {@code bucket_evidence}): the cost is
 *       the largest over every profiled bucket T, read at the window scaled by T/N when T &lt; N
 *       (the rule keeps the same share of the context) and as measured when T ≥ N, so a head that
 *       some bucket shows to depend on distance d is costed for any window shorter than d; each
 *       row's params name the bucket that decided its cost, and a target length beyond every bucket
 *       gives a warning. s_l is {@code layer_scales} (default 1 for every layer): a user's
 *       per-layer factor on top of the measured one. The statistics measure one fixed band at every
 *       query position, while the exported graph and the decode cache give the query at position n
 *       the rule's band at length n, α − S + β·n; so a rule with β &gt; 0 costs the mean of the
 *       statistic read at each position's own band over the positions n ≤ N where it drops tokens
 *       ({@link MoaPreparation#positionCost}). Costed by its band at N alone, rules of equal size
 *       at N tied and the solver picked, e.g., α = −350, β = 1 (only the sinks before position 350)
 *       as readily as α = 50, β = 0.
 *   <li>Optimisation: minimise Σ_N Σ_h cost subject to lower_bound_ratio·F ≤ density(N) ≤ F at
 *       every target length (density = mean over the planned units — kv heads or query heads, see
 *       granularity — of kept(N)/N, MoA's NaiveKVHardware budget) and at most {@code
 *       max_rules_per_layer} distinct rules per layer, solved with CP-SAT ({@link MoaSolver});
 *       status, objective, best bound and relative gap go into the params.
 *   <li>Granularity ({@code granularity}): on grouped-query models the cache is per kv head, so by
 *       default ({@code kv_head}) every kv-head group shares one rule, its cost is the sum of its
 *       query heads' costs and the density is per kv-head cache — the fraction reported is the
 *       fraction an engine storing one cache per kv head keeps. {@code query_head} is MoA's own
 *       convention (its engine converts GQA models to MHA and stores g caches per kv head): one
 *       rule per query head, density per query-head cache. Both accountings are in the params
 *       ({@code kv_fraction_per_kv_head}, {@code kv_fraction_per_query_head}, {@code
 *       engine_convention}). Rows are {@code elastic} with sinkTokens = S, alpha = α − S, beta = β,
 *       so the row keeps exactly MoA's span; the MoA export writes α = sinkTokens + alpha per query
 *       head.
 *   <li>Pareto candidates (MoA's ε-constraint method): minimise each length's cost alone to get its
 *       range, then for each primary length and each combination of {@code pareto_bins} equal bins
 *       of the other lengths' ranges, minimise the primary cost with the others capped at their
 *       bin's upper edge; the non-dominated solutions (with the main plan) are returned as
 *       candidates. Skipped for one target length or {@code pareto_bins=0}.
 * </ul>
 *
 * <p>Engine conventions an export assumes: the HeadwiseAttention export and decode graphs apply a
 * {@code kv_head} plan as one cache per kv head (the budget the plan reports); {@code export-format
 * --format moa} writes one rule per query head for MoA's engine, which runs GQA models converted to
 * MHA and sizes caches its own way (at least 128 slots, multiples of 64, 64 sinks; {@code
 * headwise_moa_export.json} gives the resulting fraction and the export warns where it differs from
 * the plan).
 *
 * <p>Needs {@code output_kl_s{S}_w{w}}, {@code stream_deviation_s{S}_w{w}} or {@code
 * coverage_s{S}_w{w}} (in that order of preference) for every head at one bucket at least.
 */
public final class MoaPlanner implements KvPlanner {
  public static final String METHOD = "moa";
  public static final String SINK_TOKENS = "sink_tokens";
  public static final String ALPHA_STEP = "alpha_step";
  public static final String BETAS = "betas";
  public static final String PROFILE_LENGTH = "profile_length";
  public static final String LOWER_BOUND_RATIO = "lower_bound_ratio";
  public static final String MAX_RULES_PER_LAYER = "max_rules_per_layer";
  public static final String LAYER_SCALES = "layer_scales";
  public static final String TIME_LIMIT_SECONDS = "time_limit_seconds";
  public static final String RELATIVE_GAP = "relative_gap";
  public static final String WORKERS = "workers";
  public static final String SEED = "seed";
  public static final String PARETO_BINS = "pareto_bins";
  public static final String PARETO_TIME_LIMIT_SECONDS = "pareto_time_limit_seconds";
  public static final String GRANULARITY = "granularity";
  public static final String BUCKET_EVIDENCE = "bucket_evidence";

  static final String NO_LAYER_SCALES = "none";
  static final int DEFAULT_SINK_TOKENS = 4;

  static final List<OptionSpec> OPTIONS =
      List.of(
          new OptionSpec(
              SINK_TOKENS,
              PlanOptions.AUTO,
              "sink count S of the stream_deviation/coverage statistics and of the rows; auto: 4 if profiled, else the"
                  + " smallest profiled"),
          new OptionSpec(
              ALPHA_STEP,
              PlanOptions.AUTO,
              "α grid step in tokens; auto: longest target length / 16"),
          new OptionSpec(
              BETAS,
              "0,0.125,0.25,0.375,0.5,0.625,0.75,0.875,1",
              "β values, comma-separated, in [0, 1]"),
          new OptionSpec(
              PROFILE_LENGTH,
              PlanOptions.AUTO,
              "N_prof of MoA's rule filter; auto: longest profiled bucket clamped to the target lengths"),
          new OptionSpec(
              LOWER_BOUND_RATIO,
              "0.9",
              "density must be at least this share of F at every target length"),
          new OptionSpec(MAX_RULES_PER_LAYER, "2", "distinct rules a layer may use"),
          new OptionSpec(
              LAYER_SCALES,
              NO_LAYER_SCALES,
              "per-layer cost scales, one positive number per layer, comma-separated; none = all 1"),
          new OptionSpec(TIME_LIMIT_SECONDS, "60", "CP-SAT wall-time limit of the main solve"),
          new OptionSpec(
              RELATIVE_GAP,
              "0.005",
              "stop when (objective − proven bound)/objective is at most this (bound: max of CP-SAT and Lagrangian)"),
          new OptionSpec(
              WORKERS,
              PlanOptions.AUTO,
              "CP-SAT worker threads; auto: available processors, at most 8"),
          new OptionSpec(SEED, "0", "CP-SAT random seed"),
          new OptionSpec(
              PARETO_BINS,
              "2",
              "bins per secondary length in the ε-constraint Pareto search; 0 = off"),
          new OptionSpec(
              PARETO_TIME_LIMIT_SECONDS, "5", "CP-SAT wall-time limit of each Pareto solve"),
          new OptionSpec(
              GRANULARITY,
              PlanOptions.AUTO,
              "kv_head: one rule per kv-head group, density per kv-head cache (what an engine keeping one cache per kv"
                  + " head stores); query_head: one rule per query head, density per query-head cache (MoA's own"
                  + " GQA-to-MHA convention, g x the kv-head cache); auto: kv_head on grouped-query models, else"
                  + " query_head"),
          new OptionSpec(
              BUCKET_EVIDENCE,
              BucketEvidence.MAX,
              "max: a rule's cost is the largest over every profiled length bucket (shorter buckets at the window"
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
    MoaPreparation.Prepared prepared = MoaPreparation.prepare(request);
    MoaProblem problem = prepared.problem();
    int workers =
        options.isAuto(WORKERS)
            ? Math.min(8, Runtime.getRuntime().availableProcessors())
            : options.integer(WORKERS, 1);
    MoaSolver.Settings main =
        new MoaSolver.Settings(
            options.number(TIME_LIMIT_SECONDS, 0.001, 1e6),
            options.number(RELATIVE_GAP, 0.0, 1.0),
            workers,
            options.integer(SEED));
    int lengths = problem.numLengths();
    double[] ones = new double[lengths];
    Arrays.fill(ones, 1.0);
    MoaSolution solution = MoaSolver.solve(problem, ones, null, main, null);
    if (solution.ruleOfUnit() == null) {
      if (solution.status() == SolverStatus.INFEASIBLE) {
        throw new HeadwiseException(
            "no MoA plan meets density in ["
                + options.string(LOWER_BOUND_RATIO)
                + "·F, F] for F="
                + request.kvFraction()
                + " at every length "
                + request.targetLengths()
                + " with at"
                + " most "
                + problem.maxRulesPerLayer()
                + " rules per layer; widen lower_bound_ratio, raise"
                + " max_rules_per_layer or refine the rule grid (alpha_step, betas)");
      }
      throw new HeadwiseException(
          "CP-SAT found no MoA plan within time_limit_seconds="
              + main.timeLimitSeconds()
              + " (status "
              + solution.status()
              + "); raise time_limit_seconds");
    }

    List<PlanCandidate> candidates = new ArrayList<>();
    int bins = options.integer(PARETO_BINS, 0);
    Map<String, Object> base = baseParams(request, prepared, options);
    if (lengths >= 2 && bins > 0) {
      MoaSolver.Settings pareto =
          new MoaSolver.Settings(
              options.number(PARETO_TIME_LIMIT_SECONDS, 0.001, 1e6),
              main.relativeGapLimit(),
              workers,
              main.seed());
      List<MoaSolution> front = MoaParetoFront.search(problem, solution, bins, pareto);
      for (int i = 0; i < front.size(); i++) {
        MoaSolution s = front.get(i);
        String id = request.planId() + "-pareto-" + i;
        List<PlanRow> rows =
            PlanAssembly.rows(
                new PlanRequest(
                    id,
                    request.stats(),
                    request.kvFraction(),
                    request.targetLengths(),
                    Map.of(),
                    request.createdAtMillis()),
                METHOD,
                prepared.granularity(),
                policies(request.stats(), prepared, s.ruleOfUnit()),
                base);
        Map<Integer, Double> objectives = new TreeMap<>();
        for (int n = 0; n < lengths; n++) {
          objectives.put(problem.lengths()[n], s.costByLength()[n]);
        }
        candidates.add(
            new PlanCandidate(
                id,
                rows,
                objectives,
                KvFraction.atLengths(rows, request.targetLengths()),
                s.status()));
      }
    }

    Map<String, Object> params = new LinkedHashMap<>(base);
    Map<String, Object> solver = new LinkedHashMap<>();
    solver.put("solver", "OR-Tools CP-SAT");
    solver.put("status", solution.status().name());
    solver.put("objective", solution.objective());
    solver.put("best_bound", solution.bestBound());
    solver.put("relative_gap", solution.relativeGap());
    solver.put("wall_seconds", solution.wallSeconds());
    solver.put("workers", workers);
    solver.put("time_limit_seconds", main.timeLimitSeconds());
    solver.put("relative_gap_limit", main.relativeGapLimit());
    params.put("solver", solver);
    // the uniform rule is in the grid, so an optimal solution never costs more; one cut short by
    // the time limit might, and then the plan is the uniform rule
    int[] uniform = new int[solution.ruleOfUnit().length];
    Arrays.fill(uniform, prepared.uniformRule());
    double[] uniformCost = problem.costByLength(uniform);
    int[] chosen = solution.ruleOfUnit();
    double[] chosenCost = solution.costByLength();
    String note = null;
    if (Arrays.stream(uniformCost).sum() < Arrays.stream(chosenCost).sum() - 1e-9) {
      chosen = uniform;
      chosenCost = uniformCost;
      note =
          "the solver's plan (status "
              + solution.status()
              + ") costs more than the uniform rule for every head; the plan is the uniform rule";
    }
    MoaRule u = prepared.rules().get(prepared.uniformRule());
    Map<String, Object> uniformRule = new LinkedHashMap<>();
    uniformRule.put("moa_alpha", u.alpha());
    uniformRule.put("moa_beta", u.beta());
    Map<String, Double> uniformByLength = new LinkedHashMap<>();
    Map<String, Double> byLength = new LinkedHashMap<>();
    for (int n = 0; n < lengths; n++) {
      byLength.put(String.valueOf(problem.lengths()[n]), chosenCost[n]);
      uniformByLength.put(String.valueOf(problem.lengths()[n]), uniformCost[n]);
    }
    uniformRule.put("objective_by_length", uniformByLength);
    params.put("objective_by_length", byLength);
    params.put("uniform_rule", uniformRule);
    params.put("pareto_candidates", candidates.size());
    List<HeadPolicy> heads = policies(request.stats(), prepared, chosen);
    params.putAll(cacheAccounting(request, prepared, heads));
    return PlanAssembly.assemble(
        request, METHOD, prepared.granularity(), heads, params, note, candidates);
  }

  private static Map<String, Object> baseParams(
      PlanRequest request, MoaPreparation.Prepared prepared, PlanOptions options) {
    Map<String, Object> params = new LinkedHashMap<>();
    params.put("sink_tokens", prepared.sinkTokens());
    params.put("cost_statistic", prepared.costStatistic());
    params.put("bucket_evidence", options.string(BUCKET_EVIDENCE));
    params.put("buckets_read", prepared.bucketsRead());
    params.put(
        "evidence_rule",
        (BucketEvidence.MAX.equals(options.string(BUCKET_EVIDENCE))
                ? "a rule's cost at length N is the largest over every profiled bucket T (T < N read at the window"
                    + " scaled by T/N, T >= N as measured); each head's evidence names the bucket that decided it"
                    + " at its window at N"
                : "the bucket nearest N only (window scaled by T/N when T < N)")
            + "; a rule with beta > 0 costs the mean of that over the positions n <= N where it drops tokens,"
            + " each read at its own band alpha - S + beta*n");
    if (!prepared.warnings().isEmpty()) {
      params.put("warnings", prepared.warnings());
    }
    params.put("alpha_step", prepared.alphaStep());
    params.put("betas", prepared.betas());
    params.put(
        "rule_filter_lengths",
        List.of(prepared.minLength(), prepared.profileLength(), prepared.maxLength()));
    params.put("rules", prepared.rules().size());
    params.put(
        "density_bounds",
        List.of(options.number(LOWER_BOUND_RATIO) * request.kvFraction(), request.kvFraction()));
    params.put("max_rules_per_layer", prepared.problem().maxRulesPerLayer());
    params.put("layer_scales", options.string(LAYER_SCALES));
    params.put(
        "span",
        "kept(N) = min(N, alpha + beta*N) with the first sink_tokens tokens as sinks;"
            + " row alpha = MoA alpha - sink_tokens");
    return params;
  }

  /**
   * What the plan costs under the two engine conventions, so neither is hidden: per kv-head cache
   * (an engine that stores one cache per kv head keeps, for a group, its widest span) and per
   * query-head cache (MoA's engine, which runs GQA models converted to MHA and so stores g caches
   * per kv head). The plan's own expected KV fraction is the one its granularity budgets.
   */
  private static Map<String, Object> cacheAccounting(
      PlanRequest request, MoaPreparation.Prepared prepared, List<HeadPolicy> heads) {
    HeadStatsTable stats = request.stats();
    int g = stats.groupSize();
    boolean perKvHead = PlanRow.KV_HEAD.equals(prepared.granularity());
    Map<String, Double> perKv = new LinkedHashMap<>();
    Map<String, Double> perQuery = new LinkedHashMap<>();
    for (int n : request.targetLengths()) {
      double[] groupMax = new double[stats.numLayers() * stats.numKvHeads()];
      double querySum = 0;
      for (HeadPolicy h : heads) {
        double kept = Math.min(n, h.sinkTokens() + Math.max(0.0, h.alpha() + h.beta() * n)) / n;
        if (perKvHead) {
          groupMax[h.layer() * stats.numKvHeads() + h.head()] = kept;
          querySum += kept * g;
        } else {
          int k = h.layer() * stats.numKvHeads() + h.head() / g;
          groupMax[k] = Math.max(groupMax[k], kept);
          querySum += kept;
        }
      }
      perKv.put(String.valueOf(n), Arrays.stream(groupMax).average().orElseThrow());
      perQuery.put(String.valueOf(n), querySum / (stats.numLayers() * stats.numHeads()));
    }
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("granularity", prepared.granularity());
    out.put("kv_fraction_per_kv_head", perKv);
    out.put("kv_fraction_per_query_head", perQuery);
    out.put(
        "engine_convention",
        perKvHead
            ? "one rule per kv-head group ("
                + g
                + " query heads): the budget is per kv-head cache, what an engine"
                + " storing one cache per kv head keeps; MoA's own engine expands GQA to MHA and then stores "
                + g
                + " copies of each group's cache with the same span (same fraction of a "
                + g
                + "x larger cache)"
            : g > 1
                ? "one rule per query head, budget per query-head cache: MoA's GQA-to-MHA convention ("
                    + g
                    + " caches per kv head); an engine storing one cache per kv head keeps each group's widest span,"
                    + " kv_fraction_per_kv_head"
                : "multi-head attention: query-head and kv-head caches coincide");
    return out;
  }

  private static List<HeadPolicy> policies(
      HeadStatsTable stats, MoaPreparation.Prepared prepared, int[] ruleOfUnit) {
    List<HeadPolicy> heads = new ArrayList<>();
    int sink = prepared.sinkTokens();
    for (int u = 0; u < ruleOfUnit.length; u++) {
      MoaRule rule = prepared.rules().get(ruleOfUnit[u]);
      heads.add(
          HeadPolicy.span(
                  u / prepared.unitsPerLayer(),
                  u % prepared.unitsPerLayer(),
                  PlanRow.ELASTIC,
                  sink,
                  rule.alpha() - sink,
                  rule.beta())
              .with("moa_alpha", rule.alpha())
              .with("moa_beta", rule.beta())
              .with("rule", ruleOfUnit[u])
              .with("evidence", evidence(stats, prepared, u, ruleOfUnit[u])));
    }
    return heads;
  }

  /**
   * Per target length: the chosen rule's cost for this unit and the bucket whose statistic decided
   * it.
   */
  private static Map<String, Object> evidence(
      HeadStatsTable stats, MoaPreparation.Prepared prepared, int unit, int rule) {
    Map<String, Object> out = new LinkedHashMap<>();
    int[] lengths = prepared.problem().lengths();
    for (int n = 0; n < lengths.length; n++) {
      double keptTokens = prepared.problem().keptTokens()[rule][n];
      Map<String, Object> e = new LinkedHashMap<>();
      e.put("statistic", prepared.costStatistic());
      e.put("window", keptTokens - prepared.sinkTokens());
      double c = prepared.problem().cost()[unit][rule][n];
      Integer bucket = c > 0 ? prepared.evidenceBucket()[unit][rule][n] : null;
      e.put("bucket", bucket);
      // the rule's cost over the positions it serves (positionCost), not only at the window above
      e.put("cost", c);
      if (bucket != null) {
        BucketEvidence.putSources(e, stats, bucket);
      }
      out.put(String.valueOf(lengths[n]), e);
    }
    return out;
  }
}
