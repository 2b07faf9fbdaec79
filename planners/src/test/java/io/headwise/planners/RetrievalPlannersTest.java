package io.headwise.planners;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.headwise.schemas.HeadwiseException;
import io.headwise.schemas.PlanRow;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Duo, Razor and EMS on statistics where the retrieval heads are known. */
class RetrievalPlannersTest {
  // 4 layers x 8 query heads, 4 kv heads (g = 2); retrieval query heads at (1,2) → kv (1,1) and
  // (3,5) → kv (3,2)
  private final TestStats known = new TestStats("m", 4, 8, 4).retrieval(1, 2).retrieval(3, 5);

  private static PlanRow row(Plan plan, int layer, int head) {
    return plan.rows().stream()
        .filter(r -> r.layer() == layer && r.head() == head)
        .findFirst()
        .orElseThrow();
  }

  @Test
  void duoKeepsTheRetrievalKvHeadsFullAndStreamsTheRest() {
    // 16 kv heads; sink 8 + recent 56 = 64 tokens; F = 0.25 at 2048 → ρ + (1-ρ)/32 = 0.25 → ρ ≈
    // 0.226: 3 heads
    // keep 0.213, 4 would keep 0.273 > F + 0.02
    Plan plan =
        KvPlanners.plan(
            "duo",
            new PlanRequest(
                "p",
                known.table(256, 2048),
                0.25,
                List.of(2048),
                Map.of("sink_tokens", "8", "recent_tokens", "56", "sizing", "deployment")));
    assertEquals(16, plan.rows().size());
    assertTrue(plan.rows().stream().allMatch(r -> r.granularity().equals(PlanRow.KV_HEAD)));
    assertEquals(PlanRow.FULL, row(plan, 1, 1).kind());
    assertEquals(PlanRow.FULL, row(plan, 3, 2).kind());
    long full = plan.rows().stream().filter(r -> r.kind().equals(PlanRow.FULL)).count();
    assertEquals(3, full);
    PlanRow streaming =
        plan.rows().stream()
            .filter(r -> r.kind().equals(PlanRow.STREAMING))
            .findFirst()
            .orElseThrow();
    assertEquals(8, streaming.sinkTokens());
    assertEquals(56, streaming.alpha(), 0);
    assertTrue(row(plan, 1, 1).paramsJson().contains("\"score\":"), row(plan, 1, 1).paramsJson());
    double fraction = KvFraction.at(plan.rows(), 2048);
    assertTrue(fraction >= 0.15 && fraction <= 0.27, "fraction " + fraction);
  }

  @Test
  void duoAggregatesAGqaGroupWithMax() {
    // only query head 2 of group (2,3) is retrieval: the kv head must score as retrieval
    Plan plan =
        KvPlanners.plan(
            "duo",
            new PlanRequest(
                "p",
                known.table(2048),
                0.2,
                List.of(2048),
                Map.of("retrieval_share", "0.125", "sink_tokens", "4", "recent_tokens", "60")));
    assertEquals(PlanRow.FULL, row(plan, 1, 1).kind());
    assertEquals(PlanRow.FULL, row(plan, 3, 2).kind());
    assertEquals(PlanRow.STREAMING, row(plan, 1, 0).kind());
  }

  @Test
  void duoShrinksSinkAndRecentWhenTheBudgetIsSmall() {
    Plan plan =
        KvPlanners.plan(
            "duo",
            new PlanRequest(
                "p", known.table(256), 0.25, List.of(256), Map.of("sizing", "deployment")));
    assertTrue(plan.paramsJson().contains("sizes_note"), plan.paramsJson());
    PlanRow s =
        plan.rows().stream()
            .filter(r -> r.kind().equals(PlanRow.STREAMING))
            .findFirst()
            .orElseThrow();
    assertTrue(s.sinkTokens() + s.alpha() <= 32, "kept " + (s.sinkTokens() + s.alpha()));
    assertEquals(PlanRow.FULL, row(plan, 1, 1).kind());
  }

  @Test
  void razorNeedsProbeStatistics() {
    HeadwiseException e =
        assertThrows(
            HeadwiseException.class,
            () ->
                KvPlanners.plan(
                    "razor",
                    new PlanRequest(
                        "p",
                        new TestStats("m", 2, 4, 2).withoutProbes().table(256),
                        0.5,
                        List.of(256),
                        Map.of())));
    assertTrue(e.getMessage().contains("induction_score") || e.getMessage().contains("echo_score"));
    assertTrue(e.getMessage().contains("repeated-random-token probes"), e.getMessage());
  }

  @Test
  void razorKeepsInductionAndEchoHeadsFullWithACompensationToken() {
    Plan plan =
        KvPlanners.plan(
            "razor",
            new PlanRequest(
                "p",
                known.table(1024),
                0.3,
                List.of(1024, 4096),
                Map.of("window_mode", "proportional", "selection", "paper")));
    // 16 kv heads: ceil(0.14*16) = 3 induction, ceil(0.01*16) = 1 echo
    assertTrue(plan.paramsJson().contains("\"induction_heads\":3"), plan.paramsJson());
    assertTrue(plan.paramsJson().contains("\"echo_heads\":1"), plan.paramsJson());
    assertTrue(plan.paramsJson().contains("\"compensation_tokens\":1"), plan.paramsJson());
    assertEquals(PlanRow.FULL, row(plan, 1, 1).kind());
    assertEquals(PlanRow.FULL, row(plan, 3, 2).kind());
    long full = plan.rows().stream().filter(r -> r.kind().equals(PlanRow.FULL)).count();
    assertEquals(3, full);
    for (int n : List.of(1024, 4096)) {
      assertEquals(0.3, KvFraction.at(plan.rows(), n), 1e-9);
    }
  }

  /**
   * The compensation entry takes one slot of a compressed head's budget (the window is one token
   * shorter, alpha −1) and is counted in the KV fraction; with compensation=none the window takes
   * the slot and no entry is written.
   */
  @Test
  void razorCompensationEntryTakesOneSlotOfTheBudget() {
    Plan with =
        KvPlanners.plan(
            "razor", new PlanRequest("p", known.table(1024), 0.3, List.of(1024), Map.of()));
    Plan without =
        KvPlanners.plan(
            "razor",
            new PlanRequest(
                "p", known.table(1024), 0.3, List.of(1024), Map.of("compensation", "none")));
    PlanRow a = row(with, 0, 0);
    PlanRow b = row(without, 0, 0);
    assertEquals(PlanRow.STREAMING, a.kind());
    assertEquals(b.alpha() - 1, a.alpha(), 1e-12);
    assertEquals(b.beta(), a.beta(), 1e-12);
    assertTrue(a.paramsJson().contains("\"compensation_tokens\":1"), a.paramsJson());
    assertTrue(b.paramsJson().contains("\"compensation_tokens\":0"), b.paramsJson());
    assertEquals(a.keptTokens(1024) + 1, KvFraction.kept(a, 1024), 1e-9);
    assertEquals(b.keptTokens(1024), KvFraction.kept(b, 1024), 1e-9);
    assertEquals(KvFraction.at(without.rows(), 1024), KvFraction.at(with.rows(), 1024), 1e-9);
  }

  @Test
  void razorSaysSoWhenRetrievalHeadsAloneExceedTheBudget() {
    Plan plan =
        KvPlanners.plan(
            "razor",
            new PlanRequest(
                "p",
                known.table(1024),
                0.1,
                List.of(1024),
                Map.of("induction_share", "0.5", "selection", "paper")));
    assertTrue(plan.paramsJson().contains("budget_note"), plan.paramsJson());
    assertFalse(KvFraction.withinTolerance(KvFraction.at(plan.rows(), 1024), 0.1));
  }

  /**
   * With the default sizing Duo searches every retrieval count with the window that fills the
   * budget: on stats with exactly two retrieval kv heads it keeps those two full (not the three the
   * deployment sizes would need) and the search's cost is below the deployment candidate's.
   */
  @Test
  void duoSearchesTheRetrievalCountAndWindowOfLeastPredictedCost() {
    Plan plan =
        KvPlanners.plan(
            "duo", new PlanRequest("p", known.table(256, 2048), 0.25, List.of(2048), Map.of()));
    assertEquals(PlanRow.FULL, row(plan, 1, 1).kind());
    assertEquals(PlanRow.FULL, row(plan, 3, 2).kind());
    assertEquals(2, plan.rows().stream().filter(r -> r.kind().equals(PlanRow.FULL)).count());
    String params = plan.paramsJson();
    assertTrue(params.contains("\"sizing\":\"search\""), params);
    assertTrue(params.contains("\"sizing_candidates\""), params);
    assertTrue(KvFraction.withinTolerance(KvFraction.at(plan.rows(), 2048), 0.25));
    // without recorded sources the evidence names none; with them, the deciding bucket's
    assertFalse(row(plan, 0, 0).paramsJson().contains("\"sources\""));
    Plan sourced =
        KvPlanners.plan(
            "duo",
            new PlanRequest(
                "p",
                known
                    .table(256, 2048)
                    .withBucketSources(
                        Map.of(256, Map.of("repeat", 4L), 2048, Map.of("ids", 8L, "passkey", 2L))),
                0.25,
                List.of(2048),
                Map.of()));
    String evidence = row(sourced, 1, 1).paramsJson();
    assertTrue(
        evidence.contains("\"bucket\":2048,\"value\":")
                && evidence.contains("\"sources\":{\"ids\":8,\"passkey\":2}")
            || evidence.contains("\"bucket\":256,\"value\":")
                && evidence.contains("\"sources\":{\"repeat\":4}"),
        evidence);
  }

  /**
   * When no head's stream cost stands out (every head local, the same curve), keeping heads full
   * only shortens everybody else's window: Duo and Razor both fall back to the uniform rule, and
   * say so. Stats for this: no retrieval heads, but Razor still ranks some heads by echo/induction.
   */
  @Test
  void duoAndRazorFallBackToTheUniformRuleWhenItIsPredictedCheaper() {
    HeadStatsTable allLocal = new TestStats("m", 4, 8, 4).table(1024);
    Plan duo = KvPlanners.plan("duo", new PlanRequest("p", allLocal, 0.1, List.of(1024), Map.of()));
    assertTrue(duo.rows().stream().allMatch(r -> r.kind().equals(PlanRow.STREAMING)));
    assertEquals(4, duo.rows().get(0).sinkTokens());
    assertTrue(duo.paramsJson().contains("uniform rule"), duo.paramsJson());
    Plan uniform =
        KvPlanners.plan(
            "streamingllm", new PlanRequest("u", allLocal, 0.1, List.of(1024), Map.of()));
    assertEquals(uniform.rows().get(0).alpha(), duo.rows().get(0).alpha(), 0.0);
    assertEquals(uniform.rows().get(0).beta(), duo.rows().get(0).beta(), 0.0);

    Plan razor =
        KvPlanners.plan("razor", new PlanRequest("p", allLocal, 0.1, List.of(1024), Map.of()));
    assertTrue(razor.rows().stream().allMatch(r -> r.kind().equals(PlanRow.STREAMING)));
    assertTrue(razor.paramsJson().contains("\"chosen\":\"uniform\""), razor.paramsJson());
    assertTrue(razor.paramsJson().contains("uniform_fallback"), razor.paramsJson());
    // the fallback is the baseline plan itself: the same span, no compensation entry
    assertTrue(razor.paramsJson().contains("\"compensation_tokens\":0"), razor.paramsJson());
    assertEquals(uniform.rows().get(0).alpha(), razor.rows().get(0).alpha(), 0.0);
    assertEquals(uniform.rows().get(0).beta(), razor.rows().get(0).beta(), 0.0);
    assertEquals(uniform.rows().get(0).sinkTokens(), razor.rows().get(0).sinkTokens());
    Plan verbatim =
        KvPlanners.plan(
            "razor",
            new PlanRequest("p", allLocal, 0.1, List.of(1024), Map.of("selection", "paper")));
    assertTrue(verbatim.rows().stream().anyMatch(r -> r.kind().equals(PlanRow.FULL)));
  }

  /**
   * Razor's selection on these stats is 3 kv heads (3 by induction, 1 by echo, overlapping), but
   * only two of them are retrieval heads: the search keeps the top 2 of Razor's ranking full (both
   * real retrieval heads) and gives the window the budget the third would have taken; of the window
   * forms it takes the fixed one (a proportional band keeps fewer tokens at every position before
   * N, and costs accordingly).
   */
  @Test
  void razorKeepsTheTopOfItsSelectionThatIsPredictedCheapest() {
    Plan plan =
        KvPlanners.plan(
            "razor", new PlanRequest("p", known.table(1024), 0.3, List.of(1024), Map.of()));
    assertEquals(PlanRow.FULL, row(plan, 1, 1).kind());
    assertEquals(PlanRow.FULL, row(plan, 3, 2).kind());
    assertEquals(2, plan.rows().stream().filter(r -> r.kind().equals(PlanRow.FULL)).count());
    String params = plan.paramsJson();
    assertTrue(params.contains("\"chosen\":\"razor_top2_fixed\""), params);
    assertTrue(params.contains("\"razor_proportional\""), params);
    assertFalse(params.contains("uniform_fallback"), params);
    assertEquals(0.0, row(plan, 0, 0).beta(), 0.0);
    Plan paper =
        KvPlanners.plan(
            "razor",
            new PlanRequest(
                "p", known.table(1024), 0.3, List.of(1024), Map.of("selection", "paper")));
    assertEquals(3, paper.rows().stream().filter(r -> r.kind().equals(PlanRow.FULL)).count());
  }

  /**
   * With induction_share 0.5 Razor's whole selection alone exceeds F = 0.1 (with selection=paper
   * the plan misses the budget, above); the search keeps fewer of its heads full and meets it.
   */
  @Test
  void razorSearchNeverPicksACandidateOverTheBudget() {
    Plan plan =
        KvPlanners.plan(
            "razor",
            new PlanRequest(
                "p", known.table(1024), 0.1, List.of(1024), Map.of("induction_share", "0.5")));
    assertTrue(
        KvFraction.withinTolerance(KvFraction.at(plan.rows(), 1024), 0.1), plan.paramsJson());
    assertFalse(plan.paramsJson().contains("budget_note"), plan.paramsJson());
  }

  @Test
  void emsGivesDiffuseHeadsLargerBudgets() {
    Plan plan =
        KvPlanners.plan(
            "ems", new PlanRequest("p", known.table(4096), 0.25, List.of(4096), Map.of()));
    int retrievalBudget = row(plan, 1, 1).budgetTokens();
    int localBudget = row(plan, 0, 0).budgetTokens();
    assertTrue(retrievalBudget > 3 * localBudget, retrievalBudget + " vs " + localBudget);
    assertEquals(retrievalBudget, row(plan, 3, 2).budgetTokens());
    assertTrue(plan.paramsJson().contains("\"experimental\":true"), plan.paramsJson());
    // the run-time policy the decode graph implements: one merge slot, observation_window recent
    assertTrue(plan.paramsJson().contains("\"merge_tokens\":1"), plan.paramsJson());
    assertFalse(plan.paramsJson().contains("\"merge_threshold\""), plan.paramsJson());
    for (PlanRow r : plan.rows()) {
      assertTrue(
          r.paramsJson().contains("\"recent_budget_tokens\":" + Math.min(32, r.budgetTokens())),
          r.paramsJson());
    }
    // the merge slot is a cache entry: counted once the head evicts
    PlanRow local = row(plan, 0, 0);
    assertEquals(local.budgetTokens() + 1, KvFraction.kept(local, 4096), 1e-9);
    assertEquals(10, KvFraction.kept(local, 10), 1e-9);
    assertEquals(PlanRow.BUDGET, row(plan, 0, 0).kind());
  }

  @Test
  void emsNamesAMissingHeavyHitterPercentage() {
    HeadwiseException e =
        assertThrows(
            HeadwiseException.class,
            () ->
                KvPlanners.plan(
                    "ems",
                    new PlanRequest(
                        "p",
                        known.table(1024),
                        0.25,
                        List.of(1024),
                        Map.of("heavy_percent", "5"))));
    assertTrue(e.getMessage().contains("heavy_hitter_share_5"), e.getMessage());
  }
}
