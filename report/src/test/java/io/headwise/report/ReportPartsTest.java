package io.headwise.report;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Number formatting, statistic choice, axis ticks, colours and params splitting of the report. */
class ReportPartsTest {
  @Test
  void numbersHaveFourSignificantDigits() {
    assertEquals("0.6594", Numbers.format(0.6594180058082263));
    assertEquals("3.977", Numbers.format(3.9770525107807466));
    assertEquals("6416", Numbers.format(6416.0));
    assertEquals("6.25e-4", Numbers.format(6.25e-4));
    assertEquals("1.235e+7".replace("+", ""), Numbers.format(12345678.0));
    assertEquals("0.5", Numbers.format(0.5));
    assertEquals("0", Numbers.format(0.0));
    assertEquals("\u2014", Numbers.format((Double) null));
    assertEquals("\u2014", Numbers.format(Double.NaN));
    assertEquals("-0.3302", Numbers.format(-0.33020956));
    assertEquals(".42", Numbers.compact(0.4213));
    assertEquals("2.5", Numbers.compact(2.46));
    assertEquals("256", Numbers.compact(256));
    assertEquals("<.01", Numbers.compact(0.004));
  }

  @Test
  void statisticsChosenPerBucket() {
    List<String> available =
        List.of(
            "entropy_mean",
            "sink_mass_1",
            "sink_mass_4",
            "local_mass_1",
            "local_mass_4",
            "local_mass_16",
            "local_mass_64",
            "local_mass_256",
            "stream_deviation_s4_w1",
            "stream_deviation_s4_w4",
            "stream_deviation_s4_w16",
            "stream_deviation_s4_w64",
            "stream_deviation_s4_w256",
            "heavy_hitter_share_5",
            "heavy_hitter_share_10",
            "heavy_hitter_share_20",
            "coverage_s4_w16",
            "echo_score",
            "needle_mass");
    assertEquals(
        List.of(
            "entropy_mean",
            "sink_mass_4",
            "local_mass_16",
            "local_mass_64",
            "stream_deviation_s4_w16",
            "heavy_hitter_share_10",
            "echo_score",
            "needle_mass"),
        StatChoice.pick(available, 256));
    assertEquals(
        List.of(
            "entropy_mean",
            "sink_mass_4",
            "local_mass_64",
            "local_mass_256",
            "stream_deviation_s4_w16",
            "heavy_hitter_share_10",
            "echo_score",
            "needle_mass"),
        StatChoice.pick(available, 1024));
    // without sink_mass_4 the smallest sink; without a 10 % share the nearest one
    assertEquals(
        List.of("sink_mass_2", "local_mass_4", "heavy_hitter_share_5"),
        StatChoice.pick(
            List.of(
                "sink_mass_8",
                "sink_mass_2",
                "local_mass_4",
                "heavy_hitter_share_5",
                "heavy_hitter_share_20"),
            64));
    assertTrue(StatChoice.describe("stream_deviation_s4_w16").contains("window of 16"));
    // the measured output sensitivity, when a profile has it, is chosen like the stream deviation
    assertEquals(
        List.of("stream_deviation_s4_w16", "output_kl_s4_w16"),
        StatChoice.pick(
            List.of(
                "stream_deviation_s4_w16",
                "output_kl_s4_w4",
                "output_kl_s4_w16",
                "output_kl_s4_w64",
                "output_kl_s4_w256"),
            256));
    assertTrue(StatChoice.describe("output_kl_s4_w16").contains("4 sinks + a window of 16"));
  }

  @Test
  void ticksAreRoundAndCoverTheRange() {
    assertArrayEquals(
        new double[] {0, 0.5, 1, 1.5, 2, 2.5}, FidelityChartSvg.ticks(0, 2.408, 5), 1e-12);
    assertArrayEquals(
        new double[] {0, 0.2, 0.4, 0.6, 0.8, 1}, FidelityChartSvg.ticks(0, 1, 5), 1e-12);
    double[] t = FidelityChartSvg.ticks(0.9913, 1, 5);
    assertTrue(t[0] <= 0.9913 && t[t.length - 1] >= 1, Arrays.toString(t));
  }

  @Test
  void coloursAndEscaping() {
    assertEquals("#440154", Colors.viridis(0));
    assertEquals("#fde725", Colors.viridis(1));
    assertEquals("#21918c", Colors.viridis(0.5));
    assertEquals("#ffffff", Colors.shade("#0072b2", 0));
    assertEquals("#ffffff", Colors.textOn("#440154"));
    assertEquals("#111827", Colors.textOn("#fde725"));
    assertEquals("&lt;a href=&quot;x&quot;&gt;&amp;&#39;", Html.esc("<a href=\"x\">&'"));
    assertEquals("plan-p-duo-1", Html.anchor("plan", "p/duo 1"));
  }

  @Test
  void paramsSplitIntoPlanLevelAndPerHead() {
    ParamsJson.Split s =
        ParamsJson.split(
            List.of(
                "{\"solver\":{\"status\":\"OPTIMAL\"},\"retrieval_heads\":3,\"score\":0.1}",
                "{\"solver\":{\"status\":\"OPTIMAL\"},\"retrieval_heads\":3,\"score\":0.7}",
                "not json"));
    // a key missing from one row (here: a row whose params are not JSON) is per head
    assertTrue(s.planLevel().isEmpty(), s.planLevel().toString());
    assertEquals(List.of("solver.status", "retrieval_heads", "score", "value"), s.perHeadKeys());
    ParamsJson.Split ok =
        ParamsJson.split(List.of("{\"a\":{\"b\":1},\"s\":0.5}", "{\"a\":{\"b\":1},\"s\":0.25}"));
    assertEquals(List.of("a.b"), List.copyOf(ok.planLevel().keySet()));
    assertEquals(List.of("s"), ok.perHeadKeys());
    assertEquals("OPTIMAL", ParamsJson.text(ParamsJson.flat("{\"x\":\"OPTIMAL\"}").get("x")));
    assertEquals("[1, 2]", ParamsJson.text(ParamsJson.flat("{\"x\":[1,2]}").get("x")));
  }
}
