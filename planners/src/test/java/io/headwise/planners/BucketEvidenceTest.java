package io.headwise.planners;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.headwise.schemas.HeadStat;
import io.headwise.schemas.PlanRow;
import io.headwise.schemas.StatNames;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Issue 14's failure case in miniature: the 256 bucket (retrieval probes) shows that kv head 1 of
 * layer 1 copies over long distances, the 512 bucket (text whose copies are short) does not, and
 * local heads look slightly diffuse in the text. A plan for length 400 must follow the damaging
 * evidence, whichever bucket it is in.
 */
class BucketEvidenceTest {
  private static final int[] WINDOWS = {1, 4, 16, 64, 128};
  private static final ObjectMapper JSON = new ObjectMapper();

  /**
   * 2 layers, 4 query heads, 2 kv heads; query heads 2 and 3 of layer 1 (kv head 1) retrieve in the
   * probes.
   */
  static HeadStatsTable stats() {
    List<HeadStat> rows = new ArrayList<>();
    for (int l = 0; l < 2; l++) {
      for (int h = 0; h < 4; h++) {
        boolean retrieval = l == 1 && h >= 2;
        for (int t : new int[] {256, 512}) {
          for (int w : WINDOWS) {
            double dev =
                t == 256 ? (retrieval ? 0.8 : 0.5 * Math.exp(-w / 4.0)) : (retrieval ? 0.0 : 0.05);
            rows.add(
                new HeadStat("m", "r", l, h, h / 2, t, 100, StatNames.streamDeviation(4, w), dev));
          }
        }
      }
    }
    return HeadStatsTable.of(rows);
  }

  @Test
  void theMostDamagingBucketDecidesAndIsNamed() {
    HeadStatsTable stats = stats();
    BucketEvidence max =
        new BucketEvidence(stats, WindowedStat.STREAM_DEVIATION, 4, 400, BucketEvidence.MAX);
    BucketEvidence.Evidence e = max.at(1, 2, 196);
    assertEquals(256, e.bucket());
    // the 256 bucket is read at 196·256/400 ≈ 125 tokens, where the head still loses its copies
    assertTrue(e.cost() > 0.5, "cost " + e.cost());
    BucketEvidence nearest =
        new BucketEvidence(stats, WindowedStat.STREAM_DEVIATION, 4, 400, BucketEvidence.NEAREST);
    assertEquals(512, nearest.at(1, 2, 196).bucket());
    assertEquals(0.0, nearest.at(1, 2, 196).cost(), 1e-12);
    assertEquals(List.of(256, 512), max.buckets());
    assertNull(max.missingWarning("stream_deviation_s4"));
    String warning =
        new BucketEvidence(stats, WindowedStat.STREAM_DEVIATION, 4, 1024, BucketEvidence.MAX)
            .missingWarning("stream_deviation_s4");
    assertTrue(
        warning.contains("at or beyond length 1024") && warning.contains("longest bucket 512"),
        warning);
  }

  @Test
  void duoKeepsTheHeadShownToRetrieveInAnyBucket() throws Exception {
    Map<String, String> options = Map.of("sink_tokens", "4", "recent_tokens", "60");
    Plan plan = KvPlanners.plan("duo", new PlanRequest("d", stats(), 0.4, List.of(400), options));
    List<String> full =
        plan.rows().stream()
            .filter(r -> r.kind().equals(PlanRow.FULL))
            .map(r -> r.layer() + "/" + r.head())
            .toList();
    assertEquals(List.of("1/1"), full);
    PlanRow kept =
        plan.rows().stream().filter(r -> r.layer() == 1 && r.head() == 1).findFirst().orElseThrow();
    JsonNode evidence = JSON.readTree(kept.paramsJson()).get("evidence").get("400");
    assertEquals(256, evidence.get("bucket").asInt());
    assertTrue(evidence.get("value").asDouble() > 0.5, kept.paramsJson());

    Map<String, String> nearestOptions =
        Map.of("sink_tokens", "4", "recent_tokens", "60", "bucket_evidence", "nearest");
    Plan nearest =
        KvPlanners.plan("duo", new PlanRequest("d", stats(), 0.4, List.of(400), nearestOptions));
    assertTrue(
        nearest.rows().stream()
            .noneMatch(r -> r.layer() == 1 && r.head() == 1 && r.kind().equals(PlanRow.FULL)),
        "the nearest bucket alone misses the retrieval head");
  }

  @Test
  void moaGivesTheRetrievalGroupTheWidestSpanAndWarnsBeyondTheBuckets() throws Exception {
    Plan plan =
        KvPlanners.plan(
            "moa",
            new PlanRequest(
                "m",
                stats(),
                0.4,
                List.of(400),
                Map.of("pareto_bins", "0", "time_limit_seconds", "20")));
    PlanRow retrieval =
        plan.rows().stream().filter(r -> r.layer() == 1 && r.head() == 1).findFirst().orElseThrow();
    for (PlanRow r : plan.rows()) {
      assertTrue(
          retrieval.keptTokens(400) >= r.keptTokens(400),
          "retrieval group keeps "
              + retrieval.keptTokens(400)
              + ", layer "
              + r.layer()
              + " kv head "
              + r.head()
              + " "
              + r.keptTokens(400));
    }
    assertTrue(
        retrieval.keptTokens(400) > 200, "retrieval group keeps " + retrieval.keptTokens(400));
    JsonNode params = JSON.readTree(plan.paramsJson());
    assertEquals(List.of(256, 512), JSON.convertValue(params.get("buckets_read"), List.class));
    assertTrue(
        JSON.readTree(retrieval.paramsJson()).get("evidence").has("400"), retrieval.paramsJson());

    Plan longer =
        KvPlanners.plan(
            "moa",
            new PlanRequest(
                "m2",
                stats(),
                0.4,
                List.of(1024),
                Map.of("pareto_bins", "0", "time_limit_seconds", "20")));
    JsonNode warnings = JSON.readTree(longer.paramsJson()).get("warnings");
    assertTrue(
        warnings != null && warnings.get(0).asText().contains("beyond length 1024"),
        longer.paramsJson());
  }
}
