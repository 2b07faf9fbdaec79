package io.headwise.planners;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.headwise.schemas.HeadwiseException;
import io.headwise.schemas.PlanRow;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class KvPlannersTest {
  private static HeadStatsTable stats() {
    return new TestStats("m", 4, 8, 4).retrieval(1, 2).retrieval(3, 5).table(256, 1024, 4096);
  }

  @Test
  void unknownMethodListsTheValidOnes() {
    HeadwiseException e = assertThrows(HeadwiseException.class, () -> KvPlanners.get("snapkv"));
    for (String m : List.of("dense", "streamingllm", "h2o", "moa", "duo", "razor", "ems")) {
      assertTrue(e.getMessage().contains(m), e.getMessage());
    }
    assertEquals(
        List.of("dense", "streamingllm", "h2o", "moa", "duo", "razor", "ems"),
        KvPlanners.methods());
  }

  @ParameterizedTest
  @ValueSource(strings = {"streamingllm", "h2o", "moa", "duo", "razor", "ems"})
  void everyMethodMeetsItsBudgetAtEachTargetLength(String method) {
    for (double f : new double[] {0.25, 0.5}) {
      for (List<Integer> lengths :
          List.of(List.of(1024), List.of(1024, 2048), List.of(1024, 4096))) {
        Plan plan =
            KvPlanners.plan(
                method,
                new PlanRequest(
                    "p",
                    stats(),
                    f,
                    lengths,
                    Map.of("pareto_bins", "0").entrySet().stream()
                        .filter(e -> method.equals("moa"))
                        .collect(Collectors.toMap(Map.Entry::getKey, Map.Entry::getValue))));
        for (int n : lengths) {
          double fraction = KvFraction.at(plan.rows(), n);
          assertEquals(fraction, plan.meta().expectedKvFraction().get(n), 1e-12);
          boolean inside = fraction >= f - 0.1 - 1e-9 && fraction <= f + 0.02 + 1e-9;
          assertTrue(
              inside || plan.paramsJson().contains("budget_note"),
              method
                  + " F="
                  + f
                  + " lengths="
                  + lengths
                  + " keeps "
                  + fraction
                  + " at "
                  + n
                  + ": "
                  + plan.paramsJson());
        }
        if (!method.equals("h2o") && !method.equals("ems") && lengths.size() <= 2) {
          // span-based methods can size to every length here; fixed budgets must at least be within
          // tolerance at one
          assertTrue(
              !plan.paramsJson().contains("budget_note"),
              method + " " + lengths + " " + plan.paramsJson());
        }
      }
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"dense", "streamingllm", "h2o", "moa", "duo", "razor", "ems"})
  void badBudgetAndUnknownOptionsAreUserErrors(String method) {
    HeadStatsTable stats = stats();
    for (double f : new double[] {0.0, -0.5, 1.5, Double.NaN}) {
      HeadwiseException e =
          assertThrows(
              HeadwiseException.class,
              () ->
                  KvPlanners.plan(method, new PlanRequest("p", stats, f, List.of(1024), Map.of())));
      assertTrue(e.getMessage().contains("outside (0, 1]"), e.getMessage());
    }
    HeadwiseException e =
        assertThrows(
            HeadwiseException.class,
            () ->
                KvPlanners.plan(
                    method, new PlanRequest("p", stats, 0.5, List.of(1024), Map.of("windw", "3"))));
    assertTrue(
        e.getMessage().contains("'windw'") && e.getMessage().contains(method), e.getMessage());
  }

  @Test
  void densePlanKeepsEverythingAndSaysWhy() {
    Plan plan =
        KvPlanners.plan("dense", new PlanRequest("p", stats(), 0.5, List.of(1024), Map.of()));
    assertEquals(4 * 4, plan.rows().size());
    assertTrue(plan.rows().stream().allMatch(r -> r.kind().equals(PlanRow.FULL)));
    assertEquals(1.0, plan.meta().expectedKvFraction().get(1024), 0);
    assertTrue(plan.paramsJson().contains("budget_note"));
  }

  @Test
  void streamingLlmUsesOneFixedWindowWhenItFitsAndAProportionalOneOtherwise() {
    Plan fixed =
        KvPlanners.plan(
            "streamingllm", new PlanRequest("p", stats(), 0.25, List.of(1024), Map.of()));
    PlanRow r = fixed.rows().get(0);
    assertEquals(PlanRow.STREAMING, r.kind());
    assertEquals(PlanRow.KV_HEAD, r.granularity());
    assertEquals(4, r.sinkTokens());
    assertEquals(0.0, r.beta(), 0);
    assertEquals(256, r.keptTokens(1024), 0.5);
    assertEquals(16, fixed.rows().size());

    Plan proportional =
        KvPlanners.plan(
            "streamingllm", new PlanRequest("p", stats(), 0.25, List.of(1024, 16384), Map.of()));
    for (int n : List.of(1024, 16384)) {
      assertEquals(0.25, KvFraction.at(proportional.rows(), n), 1e-9);
    }
    assertTrue(proportional.paramsJson().contains("\"window_mode\":\"proportional\""));
  }

  @Test
  void h2oSplitsItsBudgetBetweenHeavyHittersAndRecentTokens() {
    Plan plan =
        KvPlanners.plan(
            "h2o",
            new PlanRequest(
                "p",
                stats(),
                0.2,
                List.of(2000),
                Map.of("heavy_ratio", "0.3", "recent_ratio", "0.1")));
    PlanRow r = plan.rows().get(0);
    assertEquals(PlanRow.BUDGET, r.kind());
    assertEquals(400, r.budgetTokens());
    assertTrue(r.paramsJson().contains("\"heavy_budget_tokens\":300"), r.paramsJson());
    assertTrue(r.paramsJson().contains("\"recent_budget_tokens\":100"), r.paramsJson());
    assertTrue(r.paramsJson().contains("accumulated column attention"));
  }

  @Test
  void kvFractionPerKvHeadTakesTheMaxOverAGroup() {
    List<PlanRow> rows =
        List.of(
            new PlanRow(
                "p",
                "m",
                "r",
                "moa",
                PlanRow.QUERY_HEAD,
                0,
                0,
                PlanRow.ELASTIC,
                0,
                100,
                0,
                0,
                "{}"),
            new PlanRow(
                "p", "m", "r", "moa", PlanRow.QUERY_HEAD, 0, 1, PlanRow.FULL, 0, 0, 1, 0, "{}"),
            new PlanRow(
                "p",
                "m",
                "r",
                "moa",
                PlanRow.QUERY_HEAD,
                0,
                2,
                PlanRow.ELASTIC,
                0,
                100,
                0,
                0,
                "{}"),
            new PlanRow(
                "p",
                "m",
                "r",
                "moa",
                PlanRow.QUERY_HEAD,
                0,
                3,
                PlanRow.ELASTIC,
                0,
                300,
                0,
                0,
                "{}"));
    assertEquals((100 + 1000 + 100 + 300) / 4000.0, KvFraction.at(rows, 1000), 1e-12);
    assertEquals((1000 + 300) / 2000.0, KvFraction.perKvHead(rows, 4, 2, 1000), 1e-12);
  }
}
