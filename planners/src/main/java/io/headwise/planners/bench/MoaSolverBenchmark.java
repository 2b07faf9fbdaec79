package io.headwise.planners.bench;

import io.headwise.planners.HeadStatsTable;
import io.headwise.planners.MoaPreparation;
import io.headwise.planners.PlanRequest;
import io.headwise.planners.SolverStatus;
import io.headwise.planners.moa.MoaProblem;
import io.headwise.planners.moa.MoaSolution;
import io.headwise.planners.moa.MoaSolver;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * Times the MoA CP-SAT solve on Llama-3-8B-shaped synthetic statistics: 32 layers × 32 query heads
 * (8 kv heads), MoA's 48 rules (N_min 2048, N_prof 8192, N_max 16384, α step 1024), 4 target
 * lengths 2k/4k/8k/16k, density 0.5, buckets 2k/4k/8k. Run with {@code java -cp …
 * io.headwise.planners.bench.MoaSolverBenchmark [seed] [timeLimit] [gapLimit] [workers]}.
 */
public final class MoaSolverBenchmark {
  /**
   * One benchmark run: problem size, wall times (cost table and solve), and how the solver
   * finished.
   */
  public record Result(
      int units,
      int rules,
      int lengths,
      double prepareSeconds,
      double solveSeconds,
      SolverStatus status,
      double objective,
      double bestBound,
      double relativeGap,
      double cpSatBound,
      double lagrangianBound,
      int layerRuleChoices) {
    @Override
    public String toString() {
      return String.format(
          "units=%d rules=%d lengths=%d prepare=%.2fs solve=%.2fs status=%s objective=%.6f"
              + " bound=%.6f gap=%.4f%% cpSatBound=%.6f lagrangianBound=%.6f layerRuleChoices=%d",
          units,
          rules,
          lengths,
          prepareSeconds,
          solveSeconds,
          status,
          objective,
          bestBound,
          100 * relativeGap,
          cpSatBound,
          lagrangianBound,
          layerRuleChoices);
    }
  }

  private MoaSolverBenchmark() {}

  /** Generates the statistics with {@code seed}, builds the MoA problem and solves it once. */
  public static Result run(
      long seed, double timeLimitSeconds, double relativeGapLimit, int workers) {
    HeadStatsTable stats =
        HeadStatsTable.of(
            SyntheticHeadStats.generate(
                "llama-3-8b-synthetic", 32, 32, 8, new int[] {2048, 4096, 8192}, seed));
    long t0 = System.nanoTime();
    MoaPreparation.Prepared prepared =
        MoaPreparation.prepare(
            new PlanRequest("bench", stats, 0.5, List.of(2048, 4096, 8192, 16384), Map.of()));
    double prepareSeconds = (System.nanoTime() - t0) / 1e9;
    MoaProblem problem = prepared.problem();
    double[] weights = new double[problem.numLengths()];
    Arrays.fill(weights, 1.0);
    MoaSolution s =
        MoaSolver.solve(
            problem,
            weights,
            null,
            new MoaSolver.Settings(timeLimitSeconds, relativeGapLimit, workers, 0),
            null);
    return new Result(
        problem.numUnits(),
        problem.numRules(),
        problem.numLengths(),
        prepareSeconds,
        s.wallSeconds(),
        s.status(),
        s.objective(),
        s.bestBound(),
        s.relativeGap(),
        s.cpSatBound(),
        s.lagrangianBound(),
        s.layerRuleChoices());
  }

  public static void main(String[] args) {
    long seed = args.length > 0 ? Long.parseLong(args[0]) : 1L;
    double timeLimit = args.length > 1 ? Double.parseDouble(args[1]) : 5.0;
    double gap = args.length > 2 ? Double.parseDouble(args[2]) : 0.005;
    int workers = args.length > 3 ? Integer.parseInt(args[3]) : 2;
    MoaSolver.loadNativeLibraries();
    System.out.println(run(seed, timeLimit, gap, workers));
  }
}
