package io.headwise.planners;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.headwise.schemas.HeadwiseException;
import io.headwise.schemas.PlanRow;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

class MoaPlannerTest {
  private final TestStats known = new TestStats("m", 3, 4, 2).retrieval(0, 1).retrieval(2, 3);

  @Test
  void retrievalHeadsGetTheWidestSpansAndTheDensityStaysInBounds() {
    List<Integer> lengths = List.of(1024, 4096);
    Plan plan = KvPlanners.plan("moa", new PlanRequest("p", known.table(1024, 4096), 0.4, lengths,
        Map.of("pareto_bins", "2", "time_limit_seconds", "20")));
    assertEquals(12, plan.rows().size());
    assertTrue(plan.rows().stream().allMatch(r -> r.granularity().equals(PlanRow.QUERY_HEAD)
        && r.kind().equals(PlanRow.ELASTIC) && r.sinkTokens() == 4));
    for (int n : lengths) {
      double density = KvFraction.at(plan.rows(), n);
      assertTrue(density <= 0.4 + 1e-6 && density >= 0.9 * 0.4 - 1e-6, "density " + density + " at " + n);
      double minLocal = Double.POSITIVE_INFINITY;
      double maxLocal = 0;
      for (PlanRow r : plan.rows()) {
        if (known.isRetrieval(r.layer(), r.head())) {
          minLocal = Math.min(minLocal, r.keptTokens(n));
        } else {
          maxLocal = Math.max(maxLocal, r.keptTokens(n));
        }
      }
      assertTrue(minLocal > maxLocal, "retrieval heads keep " + minLocal + ", local heads up to " + maxLocal);
    }
    for (int l = 0; l < 3; l++) {
      final int layer = l;
      Set<String> distinct = new HashSet<>();
      plan.rows().stream().filter(r -> r.layer() == layer).forEach(r -> distinct.add(r.alpha() + "/" + r.beta()));
      assertTrue(distinct.size() <= 2, "layer " + l + " uses " + distinct);
    }
    assertTrue(plan.paramsJson().contains("\"status\":\"OPTIMAL\"") || plan.paramsJson().contains("FEASIBLE"));
    assertTrue(plan.paramsJson().contains("\"best_bound\""));
    assertTrue(plan.paramsJson().contains("\"relative_gap\""));
    assertFalse(plan.candidates().isEmpty());
    for (PlanCandidate a : plan.candidates()) {
      for (PlanCandidate b : plan.candidates()) {
        boolean dominated = a != b && b.objectiveByLength().entrySet().stream()
            .allMatch(e -> e.getValue() <= a.objectiveByLength().get(e.getKey()) + 1e-12)
            && b.objectiveByLength().entrySet().stream()
            .anyMatch(e -> e.getValue() < a.objectiveByLength().get(e.getKey()) - 1e-12);
        assertFalse(dominated, a.candidateId() + " is dominated by " + b.candidateId());
      }
    }
  }

  @Test
  void fallsBackToCoverageAndNamesWhatIsMissing() {
    Plan plan = KvPlanners.plan("moa", new PlanRequest("p", known.withoutDeviation().table(1024), 0.5,
        List.of(1024), Map.of()));
    assertTrue(plan.paramsJson().contains("1 - coverage_s4"), plan.paramsJson());

    HeadStatsTable noWindows = HeadStatsTable.of(known.rows(1024).stream()
        .filter(r -> !r.stat().startsWith("stream_deviation") && !r.stat().startsWith("coverage")).toList());
    HeadwiseException e = assertThrows(HeadwiseException.class, () -> KvPlanners.plan("moa",
        new PlanRequest("p", noWindows, 0.5, List.of(1024), Map.of())));
    assertTrue(e.getMessage().contains("stream_deviation_s{S}_w{w}"), e.getMessage());

    e = assertThrows(HeadwiseException.class, () -> KvPlanners.plan("moa",
        new PlanRequest("p", known.table(1024), 0.5, List.of(1024), Map.of("sink_tokens", "64"))));
    assertTrue(e.getMessage().contains("sink_tokens=64"), e.getMessage());
  }

  @Test
  void layerScalesMustMatchTheLayerCount() {
    HeadwiseException e = assertThrows(HeadwiseException.class, () -> KvPlanners.plan("moa",
        new PlanRequest("p", known.table(1024), 0.5, List.of(1024), Map.of("layer_scales", "1,2"))));
    assertTrue(e.getMessage().contains("layer_scales") && e.getMessage().contains("3"), e.getMessage());
  }
}
