package io.headwise.jobs.publish;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.headwise.jobs.publish.PublishGate.Check;
import io.headwise.jobs.publish.PublishGate.Decision;
import io.headwise.jobs.publish.PublishGate.Evaluation;
import io.headwise.jobs.publish.PublishGate.Thresholds;
import io.headwise.schemas.HeadwiseException;
import io.headwise.schemas.Json;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** The publish gate as a pure function: pass and refusal cases without Spark or a warehouse. */
class PublishGateTest {
  /** The command's defaults: kl_ratio 1.0, retentions 0.9, cosine 0.99, kl and top1 off. */
  private static final Thresholds DEFAULTS = new Thresholds(1.0, null, null, 0.9, 0.9, 0.99);

  private static Evaluation decoder(String plan, String method, double kl, Double repeat) {
    return new Evaluation(
        "sha256:m",
        plan,
        method,
        "prefill",
        false,
        null,
        kl,
        0.8,
        repeat,
        1.0,
        null,
        null,
        null,
        0.5,
        0.5,
        8);
  }

  private static Evaluation baseline(String forPlan, double kl) {
    return new Evaluation(
        "sha256:m",
        "uniform-" + forPlan,
        "streamingllm",
        "prefill",
        true,
        forPlan,
        kl,
        0.7,
        null,
        null,
        null,
        null,
        null,
        0.5,
        0.5,
        8);
  }

  private static Map<String, Check> byName(Decision d) {
    return d.checks().stream().collect(Collectors.toMap(Check::name, c -> c));
  }

  @Test
  void aPlanBelowItsBaselineKlAndKeepingRepeatsIsPublished() {
    List<Decision> ds =
        PublishGate.decide(
            List.of(decoder("p", "razor", 0.2, 0.95), baseline("p", 0.4)), null, "e1", DEFAULTS);
    assertEquals(1, ds.size());
    Decision d = ds.get(0);
    assertTrue(d.publish());
    Map<String, Check> c = byName(d);
    assertEquals(0.5, c.get("kl_ratio").value(), 1e-12);
    assertTrue(c.get("kl_ratio").passed());
    assertEquals(0.95, c.get("repeat_retention").value(), 1e-12);
    assertFalse(c.get("passkey_retention").applied()); // not measured
    assertFalse(c.get("cosine").applied()); // decoder
    assertEquals("uniform-p", d.baseline().planId());
    assertTrue(PublishGate.line(d).startsWith("publish: published p: kl_ratio 0.5000 <= 1.000"));
  }

  @Test
  void aPlanWorseThanItsBaselineOrLosingRepeatsIsHeldBack() {
    Decision worseKl =
        PublishGate.decide(
                List.of(decoder("p", "razor", 0.5, 0.95), baseline("p", 0.4)), null, "e1", DEFAULTS)
            .get(0);
    assertFalse(worseKl.publish());
    assertFalse(byName(worseKl).get("kl_ratio").passed());
    assertTrue(PublishGate.line(worseKl).startsWith("publish: held back p: kl_ratio 1.250 not <="));

    Decision lostRepeats =
        PublishGate.decide(
                List.of(decoder("p", "razor", 0.2, 0.5), baseline("p", 0.4)), null, "e1", DEFAULTS)
            .get(0);
    assertFalse(lostRepeats.publish());
    assertTrue(byName(lostRepeats).get("kl_ratio").passed());
    assertFalse(byName(lostRepeats).get("repeat_retention").passed());
  }

  @Test
  void experimentalMethodsAreHeldBackWhateverTheyMeasure() {
    Decision d =
        PublishGate.decide(
                List.of(decoder("p", "ems", 0.01, 1.0), baseline("p", 0.4)), null, "e1", DEFAULTS)
            .get(0);
    assertTrue(byName(d).get("kl_ratio").passed());
    assertFalse(byName(d).get("method").passed());
    assertFalse(d.publish());
  }

  @Test
  void noAppliedCheckMeansHeldBackAndOffThresholdsAreNotListed() {
    Thresholds allOff = new Thresholds(null, null, null, null, null, null);
    Decision d =
        PublishGate.decide(List.of(decoder("p", "razor", 0.2, 0.95)), null, "e1", allOff).get(0);
    assertFalse(d.publish());
    assertEquals(
        "publish: held back p: no threshold applies to what was measured", PublishGate.line(d));
  }

  @Test
  void aBaselineEqualToTheDenseModelFailsTheRatioUnlessThePlanIsToo() {
    Decision exact =
        PublishGate.decide(
                List.of(decoder("p", "razor", 0.0, null), baseline("p", 0.0)), null, "e", DEFAULTS)
            .get(0);
    assertEquals(1.0, byName(exact).get("kl_ratio").value(), 0);
    assertTrue(exact.publish());
    Decision worse =
        PublishGate.decide(
                List.of(decoder("p", "razor", 0.1, null), baseline("p", 0.0)), null, "e", DEFAULTS)
            .get(0);
    assertNull(byName(worse).get("kl_ratio").value());
    assertFalse(worse.publish());
  }

  @Test
  void choosingPlansRefusesUnknownOnesAndBaselineOnlyRuns() {
    List<Evaluation> rows = List.of(decoder("a", "razor", 0.2, null), baseline("a", 0.4));
    HeadwiseException unknown =
        assertThrows(
            HeadwiseException.class, () -> PublishGate.decide(rows, List.of("b"), "e1", DEFAULTS));
    assertEquals("plan 'b' has no evaluation in run 'e1' (evaluated: a)", unknown.getMessage());
    assertThrows(
        HeadwiseException.class,
        () -> PublishGate.decide(List.of(baseline("a", 0.4)), null, "e1", DEFAULTS));
    assertEquals(1, PublishGate.decide(rows, List.of("a", "a"), "e1", DEFAULTS).size());
  }

  @Test
  void gateJsonRecordsThresholdsValuesAndSimulatedH2o() throws Exception {
    Evaluation h2o = decoder("h", "h2o", 0.2, null);
    Decision d = PublishGate.decide(List.of(h2o, baseline("h", 0.4)), null, "e1", DEFAULTS).get(0);
    JsonNode g = Json.MAPPER.readTree(PublishGate.gateJson(d, true, "e1", DEFAULTS));
    assertEquals("published", g.get("decision").asText());
    assertEquals("uniform-h", g.get("baseline_plan_id").asText());
    assertEquals(1.0, g.get("thresholds").get("max_kl_ratio").asDouble());
    assertTrue(g.get("thresholds").get("max_kl").isNull());
    assertTrue(g.has("evaluation")); // prefill simulation of h2o
    assertEquals("kl_ratio", g.get("checks").get(0).get("name").asText());
    assertEquals(0.5, g.get("checks").get(0).get("value").asDouble(), 1e-12);
  }
}
