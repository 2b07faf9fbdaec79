package io.headwise.planners.moa;

import com.google.ortools.Loader;
import com.google.ortools.sat.BoolVar;
import com.google.ortools.sat.CpModel;
import com.google.ortools.sat.CpSolver;
import com.google.ortools.sat.CpSolverSolutionCallback;
import com.google.ortools.sat.CpSolverStatus;
import com.google.ortools.sat.LinearArgument;
import com.google.ortools.sat.LinearExpr;
import io.headwise.planners.SolverStatus;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Solves a {@link MoaProblem} exactly (to a relative gap) with OR-Tools CP-SAT, helped by a
 * Lagrangian relaxation.
 *
 * <p>Steps: (1) {@link MoaLagrangian} gives a feasible incumbent, a proven dual lower bound and
 * multipliers; (2) reduced-cost fixing removes, per layer, the rules that no assignment at least as
 * good as the incumbent can use (exact, so the optimum survives; skipped when the layer subproblem
 * is not solved exactly, m ∉ {1, 2} and m &lt; rules); (3) CP-SAT solves the remaining model,
 * hinted with the incumbent: x[u][r] ∈ {0,1}, exactly one per unit; y[l][r] with x[u][r] ⇒
 * y[layer(u)][r] and Σ_r y[l][r] ≤ m (omitted when not binding); lower ≤ Σ x·kept ≤ upper at each
 * length; optional caps Σ x·cost_n ≤ ε_n; minimise Σ x·Σ_n w_n·cost_n. It stops at the time limit
 * or as soon as (objective − max(CP-SAT bound, dual bound))/objective ≤ the gap limit.
 *
 * <p>Integers: kept tokens are scaled by {@value #KEPT_SCALE} (exact for β on the 1/8 grid and
 * integer α) and shifted by the smallest rule's tokens (a constant, as every unit takes one rule);
 * costs are scaled so the largest weighted unit cost is {@value #COST_RESOLUTION}, and CP-SAT's
 * bound is converted back minus the worst rounding (half a unit per head), so the reported bound
 * stays a proven bound in real units.
 */
public final class MoaSolver {
  /** Kept tokens are multiplied by this before rounding to integers. */
  public static final int KEPT_SCALE = 8;

  /** The largest weighted cost of one unit under one rule becomes this integer. */
  public static final double COST_RESOLUTION = 1e6;

  /** Subgradient iterations of the Lagrangian step. */
  public static final int LAGRANGIAN_ITERATIONS = 300;

  /** CP-SAT limits: wall time, relative gap at which to stop, worker threads and random seed. */
  public record Settings(double timeLimitSeconds, double relativeGapLimit, int workers, int seed) {}

  private static boolean nativeLoaded;

  private MoaSolver() {}

  /** Loads the OR-Tools native library once per JVM. */
  public static synchronized void loadNativeLibraries() {
    if (!nativeLoaded) {
      Loader.loadNativeLibraries();
      nativeLoaded = true;
    }
  }

  /**
   * Minimises Σ_n weights[n]·cost_n subject to the problem's constraints and cost_n ≤ costUpper[n]
   * (null, or +∞ entries, for none). {@code hint}, when not null, is offered to CP-SAT besides the
   * Lagrangian incumbent. The assignment is null when CP-SAT proves infeasibility or finds nothing
   * in time; the status says which.
   */
  public static MoaSolution solve(
      MoaProblem p, double[] weights, double[] costUpper, Settings settings, int[] hint) {
    loadNativeLibraries();
    long start = System.nanoTime();
    int units = p.numUnits();
    int rules = p.numRules();

    MoaLagrangian lagrangian = new MoaLagrangian(p, weights, costUpper);
    MoaLagrangian.Result relaxation = lagrangian.solve(LAGRANGIAN_ITERATIONS);
    int[] incumbent = relaxation.assignment();
    if (hint != null
        && p.isFeasible(hint, 1.0 / KEPT_SCALE)
        && meetsCaps(p, hint, costUpper)
        && (incumbent == null || lagrangian.objective(hint) < relaxation.objective())) {
      incumbent = hint.clone();
    }
    double dualBound =
        relaxation.boundIsValid() ? relaxation.lowerBound() : Double.NEGATIVE_INFINITY;
    double[][] weighted = MoaLagrangian.weightedCosts(p, weights);
    double maxCost = 0;
    for (double[] row : weighted) {
      for (double c : row) {
        maxCost = Math.max(maxCost, c);
      }
    }
    double costScale = maxCost > 0 ? COST_RESOLUTION / maxCost : 1.0;
    double roundingSlack = 0.5 * units / costScale;

    // Phase 1 (primal): CP-SAT on the core — the rules each layer uses in near-optimal relaxed
    // solutions.
    if (incumbent != null && relaxation.boundIsValid()) {
      double budget = 0.4 * (settings.timeLimitSeconds() - elapsed(start));
      double gap = relativeGap(lagrangian.objective(incumbent), dualBound);
      if (budget > 0.05 && gap > settings.relativeGapLimit()) {
        CpSatRun core =
            runCpSat(
                p,
                relaxation.coreRules(),
                weighted,
                costUpper,
                incumbent,
                costScale,
                budget,
                settings,
                dualBound);
        if (core.assignment() != null
            && lagrangian.objective(core.assignment()) < lagrangian.objective(incumbent)) {
          incumbent = core.assignment();
        }
      }
    }

    // Phase 2 (exact): reduced-cost fixing against the incumbent, then CP-SAT on what is left.
    boolean[][] allowed = new boolean[p.numLayers()][rules];
    if (incumbent != null && relaxation.boundIsValid()) {
      allowed =
          lagrangian.allowedRules(
              relaxation.multipliers(), relaxation.lowerBound(), lagrangian.objective(incumbent));
      for (int u = 0; u < units; u++) {
        allowed[p.layerOfUnit()[u]][incumbent[u]] =
            true; // the incumbent always survives (guards rounding)
      }
    } else {
      for (boolean[] row : allowed) {
        Arrays.fill(row, true);
      }
    }
    int choices = 0;
    for (boolean[] row : allowed) {
      for (boolean b : row) {
        choices += b ? 1 : 0;
      }
    }
    CpSatRun run;
    if (incumbent != null
        && relativeGap(lagrangian.objective(incumbent), dualBound) <= settings.relativeGapLimit()) {
      run = new CpSatRun(incumbent, SolverStatus.FEASIBLE, Double.NEGATIVE_INFINITY);
    } else {
      run =
          runCpSat(
              p,
              allowed,
              weighted,
              costUpper,
              incumbent,
              costScale,
              Math.max(0.05, settings.timeLimitSeconds() - elapsed(start)),
              settings,
              dualBound);
    }
    double wall = elapsed(start);
    int[] assignment = run.assignment();
    SolverStatus status = run.status();
    if (assignment == null
        || incumbent != null
            && lagrangian.objective(incumbent) < lagrangian.objective(assignment)) {
      assignment = incumbent;
      if (run.assignment() == null && incumbent != null) {
        status =
            SolverStatus
                .FEASIBLE; // CP-SAT found nothing better in time; the incumbent is feasible by
        // construction
      }
    }
    if (assignment == null) {
      return new MoaSolution(
          null,
          status,
          Double.NaN,
          Double.NaN,
          Double.NaN,
          wall,
          null,
          run.bound(),
          dualBound,
          choices);
    }
    double[] byLength = p.costByLength(assignment);
    double exact = 0;
    for (int n = 0; n < byLength.length; n++) {
      exact += weights[n] * byLength[n];
    }
    double best = Math.max(run.bound(), dualBound);
    if (status == SolverStatus.OPTIMAL && settings.relativeGapLimit() == 0.0) {
      best = Math.max(best, exact - roundingSlack);
    }
    best = Math.min(best, exact);
    return new MoaSolution(
        assignment,
        status,
        exact,
        best,
        relativeGap(exact, best),
        wall,
        byLength,
        run.bound(),
        dualBound,
        choices);
  }

  /** One CP-SAT run: its best assignment (or null), status and proven bound in real cost units. */
  private record CpSatRun(int[] assignment, SolverStatus status, double bound) {}

  private static double elapsed(long start) {
    return (System.nanoTime() - start) / 1e9;
  }

  private static double relativeGap(double objective, double bound) {
    return objective > 0 ? Math.max(0.0, objective - bound) / objective : 0.0;
  }

  /**
   * Builds the CP-SAT model over the allowed (layer, rule) choices and solves it; see the class
   * comment.
   */
  private static CpSatRun runCpSat(
      MoaProblem p,
      boolean[][] allowed,
      double[][] weighted,
      double[] costUpper,
      int[] incumbent,
      double costScale,
      double timeLimit,
      Settings settings,
      double dualBound) {
    int units = p.numUnits();
    int rules = p.numRules();
    int lengths = p.numLengths();
    CpModel model = new CpModel();
    BoolVar[][] x = new BoolVar[units][rules];
    List<LinearArgument> vars = new ArrayList<>();
    List<int[]> index = new ArrayList<>();
    for (int u = 0; u < units; u++) {
      List<BoolVar> options = new ArrayList<>();
      for (int r = 0; r < rules; r++) {
        if (allowed[p.layerOfUnit()[u]][r]) {
          x[u][r] = model.newBoolVar("x_" + u + "_" + r);
          options.add(x[u][r]);
          vars.add(x[u][r]);
          index.add(new int[] {u, r});
        }
      }
      model.addExactlyOne(options.toArray(new BoolVar[0]));
    }
    LinearArgument[] flat = vars.toArray(new LinearArgument[0]);
    int size = flat.length;
    BoolVar[][] y = null;
    if (p.maxRulesPerLayer() < rules) {
      y = new BoolVar[p.numLayers()][rules];
      for (int l = 0; l < p.numLayers(); l++) {
        List<BoolVar> used = new ArrayList<>();
        for (int r = 0; r < rules; r++) {
          if (allowed[l][r]) {
            y[l][r] = model.newBoolVar("y_" + l + "_" + r);
            used.add(y[l][r]);
          }
        }
        if (used.size() > p.maxRulesPerLayer()) {
          model.addLessOrEqual(LinearExpr.sum(used.toArray(new BoolVar[0])), p.maxRulesPerLayer());
        }
      }
      for (int[] ur : index) {
        model.addImplication(x[ur[0]][ur[1]], y[p.layerOfUnit()[ur[0]]][ur[1]]);
      }
    }
    for (int n = 0; n < lengths; n++) {
      // every unit takes one rule, so the smallest rule's tokens are a constant: shifting them out
      // keeps the
      // coefficients small
      long minKept = Long.MAX_VALUE;
      for (int r = 0; r < rules; r++) {
        minKept = Math.min(minKept, Math.round(p.keptTokens()[r][n] * KEPT_SCALE));
      }
      long[] kept = new long[size];
      for (int i = 0; i < size; i++) {
        kept[i] = Math.round(p.keptTokens()[index.get(i)[1]][n] * KEPT_SCALE) - minKept;
      }
      long lower = (long) Math.ceil(p.lowerTokens()[n] * KEPT_SCALE - 1e-6) - minKept * units;
      long upper = (long) Math.floor(p.upperTokens()[n] * KEPT_SCALE + 1e-6) - minKept * units;
      model.addLinearConstraint(LinearExpr.weightedSum(flat, kept), lower, upper);
    }
    for (int n = 0; costUpper != null && n < lengths; n++) {
      if (!Double.isFinite(costUpper[n])) {
        continue;
      }
      double maxN = 0;
      for (double[][] unit : p.cost()) {
        for (double[] rule : unit) {
          maxN = Math.max(maxN, rule[n]);
        }
      }
      double scaleN = maxN > 0 ? COST_RESOLUTION / maxN : 1.0;
      long[] c = new long[size];
      for (int i = 0; i < size; i++) {
        c[i] = Math.round(p.cost()[index.get(i)[0]][index.get(i)[1]][n] * scaleN);
      }
      // half a unit of rounding per head, so an assignment that meets ε in real numbers stays
      // feasible
      model.addLessOrEqual(
          LinearExpr.weightedSum(flat, c), (long) Math.floor(costUpper[n] * scaleN + 0.5 * units));
    }
    long[] objective = new long[size];
    for (int i = 0; i < size; i++) {
      objective[i] = Math.round(weighted[index.get(i)[0]][index.get(i)[1]] * costScale);
    }
    model.minimize(LinearExpr.weightedSum(flat, objective));
    if (incumbent != null) {
      boolean[][] used = new boolean[p.numLayers()][rules];
      for (int u = 0; u < units; u++) {
        used[p.layerOfUnit()[u]][incumbent[u]] = true;
      }
      for (int[] ur : index) {
        model.addHint(x[ur[0]][ur[1]], incumbent[ur[0]] == ur[1]);
      }
      for (int l = 0; y != null && l < p.numLayers(); l++) {
        for (int r = 0; r < rules; r++) {
          if (y[l][r] != null) {
            model.addHint(y[l][r], used[l][r]);
          }
        }
      }
    }

    double roundingSlack = 0.5 * units / costScale;
    CpSolver solver = new CpSolver();
    solver
        .getParameters()
        .setMaxTimeInSeconds(timeLimit)
        .setRelativeGapLimit(settings.relativeGapLimit())
        .setNumWorkers(Math.max(1, settings.workers()))
        .setRandomSeed(settings.seed())
        .setPresolveInclusionWorkLimit(0)
        .setLogSearchProgress(Boolean.getBoolean("headwise.moa.log"));
    final double gapLimit = settings.relativeGapLimit();
    CpSolverSolutionCallback stopAtGap =
        new CpSolverSolutionCallback() {
          @Override
          public void onSolutionCallback() {
            double obj = objectiveValue() / costScale;
            double lower = Math.max(dualBound, bestObjectiveBound() / costScale - roundingSlack);
            if (relativeGap(obj, lower) <= gapLimit) {
              stopSearch();
            }
          }
        };
    CpSolverStatus status = solver.solve(model, stopAtGap);
    if (status != CpSolverStatus.OPTIMAL && status != CpSolverStatus.FEASIBLE) {
      return new CpSatRun(null, SolverStatus.of(status), Double.NEGATIVE_INFINITY);
    }
    int[] assignment = new int[units];
    for (int[] ur : index) {
      if (solver.booleanValue(x[ur[0]][ur[1]])) {
        assignment[ur[0]] = ur[1];
      }
    }
    return new CpSatRun(
        assignment,
        SolverStatus.of(status),
        solver.bestObjectiveBound() / costScale - roundingSlack);
  }

  private static boolean meetsCaps(MoaProblem p, int[] assignment, double[] costUpper) {
    if (costUpper == null) {
      return true;
    }
    double[] byLength = p.costByLength(assignment);
    for (int n = 0; n < byLength.length; n++) {
      if (byLength[n] > costUpper[n] + 1e-12) {
        return false;
      }
    }
    return true;
  }
}
