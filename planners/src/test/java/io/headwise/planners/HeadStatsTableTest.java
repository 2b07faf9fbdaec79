package io.headwise.planners;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.headwise.schemas.HeadStat;
import io.headwise.schemas.HeadwiseException;
import io.headwise.schemas.StatNames;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

class HeadStatsTableTest {
  @Test
  void derivesShapeAndGqaGroupsFromRows() {
    HeadStatsTable t = new TestStats("m", 3, 8, 2).table(256);
    assertEquals(3, t.numLayers());
    assertEquals(8, t.numHeads());
    assertEquals(2, t.numKvHeads());
    assertEquals(4, t.groupSize());
    assertEquals(1, t.kvHeadOf(5));
    assertEquals("m", t.modelId());
    assertTrue(t.has(StatNames.ECHO_SCORE));
    assertFalse(t.has(StatNames.NEEDLE_MASS));
  }

  @Test
  void refusesMixedModelsAndInconsistentKvHeads() {
    List<HeadStat> rows = new ArrayList<>(new TestStats("a", 1, 2, 1).rows(64));
    rows.add(new HeadStat("b", "r", 0, 0, 0, 64, 1, StatNames.ENTROPY_MEAN, 1.0));
    HeadwiseException e = assertThrows(HeadwiseException.class, () -> HeadStatsTable.of(rows));
    assertTrue(e.getMessage().contains("'a'") && e.getMessage().contains("'b'"), e.getMessage());

    List<HeadStat> bad =
        List.of(
            new HeadStat("a", "r", 0, 0, 0, 64, 1, StatNames.ENTROPY_MEAN, 1.0),
            new HeadStat("a", "r", 0, 1, 0, 64, 1, StatNames.ENTROPY_MEAN, 1.0),
            new HeadStat("a", "r", 0, 2, 0, 64, 1, StatNames.ENTROPY_MEAN, 1.0),
            new HeadStat("a", "r", 0, 3, 1, 64, 1, StatNames.ENTROPY_MEAN, 1.0),
            new HeadStat("a", "r", 0, 1, 1, 64, 1, StatNames.ENTROPY_MEAN, 1.0));
    e = assertThrows(HeadwiseException.class, () -> HeadStatsTable.of(bad));
    assertTrue(e.getMessage().contains("kv head"), e.getMessage());
    assertThrows(HeadwiseException.class, () -> HeadStatsTable.of(List.of()));
  }

  @Test
  void mergesDuplicateRowsWeightedByQueryCount() {
    HeadStatsTable t =
        HeadStatsTable.of(
            List.of(
                new HeadStat("a", "r1", 0, 0, 0, 64, 100, StatNames.ECHO_SCORE, 0.2),
                new HeadStat("a", "r2", 0, 0, 0, 64, 300, StatNames.ECHO_SCORE, 0.6)));
    assertEquals(0.5, t.value(0, 0, 64, StatNames.ECHO_SCORE), 1e-12);
    assertEquals("r1,r2", t.statsRunId());
  }

  @Test
  void weighsStreamDeviationByEachHeadsShareOfItsLayersOutputEnergy() {
    List<HeadStat> rows = new ArrayList<>();
    double[] energy = {3.0, 1.0};
    for (int h = 0; h < 2; h++) {
      rows.add(new HeadStat("a", "r", 0, h, h, 256, 1, StatNames.streamDeviation(4, 16), 0.4));
      rows.add(new HeadStat("a", "r", 0, h, h, 256, 1, StatNames.streamDeviation(4, 64), 0.2));
    }
    HeadStatsTable plain = HeadStatsTable.of(rows);
    assertEquals(0.4, plain.interpolate(WindowedStat.STREAM_DEVIATION, 4, 0, 1, 256, 16), 1e-12);
    for (int h = 0; h < 2; h++) {
      rows.add(new HeadStat("a", "r", 0, h, h, 256, 1, StatNames.HEAD_OUTPUT_ENERGY, energy[h]));
    }
    HeadStatsTable t = HeadStatsTable.of(rows);
    // the layer's mean energy is 2: head 0 counts 1.5 times, head 1 half
    assertEquals(0.6, t.interpolate(WindowedStat.STREAM_DEVIATION, 4, 0, 0, 256, 16), 1e-12);
    assertEquals(0.2, t.interpolate(WindowedStat.STREAM_DEVIATION, 4, 0, 1, 256, 16), 1e-12);
    assertEquals(0.1, t.interpolate(WindowedStat.STREAM_DEVIATION, 4, 0, 1, 256, 64), 1e-12);
    // the weighted sum over the layer is H × the relative deviation of the concatenated output
    double layerDeviation = (0.4 * 3.0 + 0.4 * 1.0) / (3.0 + 1.0);
    assertEquals(
        2 * layerDeviation,
        t.interpolate(WindowedStat.STREAM_DEVIATION, 4, 0, 0, 256, 16)
            + t.interpolate(WindowedStat.STREAM_DEVIATION, 4, 0, 1, 256, 16),
        1e-12);
    // other families are read as profiled
    assertTrue(t.deviationWeighted());
    assertFalse(plain.deviationWeighted());
  }

  @Test
  void scalesEachLayersDeviationToItsMeasuredOutputKl() {
    // two layers of two heads; equal deviations, but switching layer 0 costs the model 10x more
    List<HeadStat> rows = new ArrayList<>();
    double[] layerKl = {1.2, 0.12};
    for (int l = 0; l < 2; l++) {
      for (int h = 0; h < 2; h++) {
        double dev16 = h == 0 ? 0.4 : 0.2;
        rows.add(new HeadStat("a", "r", l, h, h, 256, 1, StatNames.streamDeviation(4, 16), dev16));
        rows.add(
            new HeadStat("a", "r", l, h, h, 256, 1, StatNames.streamDeviation(4, 64), dev16 / 2));
        rows.add(
            new HeadStat("a", "r", l, h, h, 256, 1, StatNames.layerOutputKl(4, 64), layerKl[l]));
      }
    }
    HeadStatsTable t = HeadStatsTable.of(rows);
    assertTrue(t.deviationLayerScaled(4));
    assertFalse(t.deviationLayerScaled(1));
    for (int l = 0; l < 2; l++) {
      // at the measured window the layer's heads share its KL by their deviations (0.2 : 0.1)
      double at64 =
          t.interpolate(WindowedStat.STREAM_DEVIATION, 4, l, 0, 256, 64)
              + t.interpolate(WindowedStat.STREAM_DEVIATION, 4, l, 1, 256, 64);
      assertEquals(layerKl[l], at64, 1e-12);
      assertEquals(
          2 * t.interpolate(WindowedStat.STREAM_DEVIATION, 4, l, 1, 256, 64),
          t.interpolate(WindowedStat.STREAM_DEVIATION, 4, l, 0, 256, 64),
          1e-12);
      // the same factor at every window: 0.4 at w = 16 times KL / 0.3
      assertEquals(
          0.4 * layerKl[l] / 0.3,
          t.interpolate(WindowedStat.STREAM_DEVIATION, 4, l, 0, 256, 16),
          1e-12);
    }
    assertTrue(t.deviationCostName(4).contains("layer_output_kl"));
    // other families are not scaled
    rows.add(new HeadStat("a", "r", 0, 0, 0, 256, 1, StatNames.coverage(4, 16), 0.7));
    rows.add(new HeadStat("a", "r", 0, 1, 1, 256, 1, StatNames.coverage(4, 16), 0.7));
    rows.add(new HeadStat("a", "r", 1, 0, 0, 256, 1, StatNames.coverage(4, 16), 0.7));
    rows.add(new HeadStat("a", "r", 1, 1, 1, 256, 1, StatNames.coverage(4, 16), 0.7));
    assertEquals(
        0.7, HeadStatsTable.of(rows).interpolate(WindowedStat.COVERAGE, 4, 0, 0, 256, 16), 1e-12);
  }

  @Test
  void interpolatesLogLinearlyAndAnchorsAtTheBucketLength() {
    List<HeadStat> rows =
        List.of(
            new HeadStat("a", "r", 0, 0, 0, 1024, 1, StatNames.streamDeviation(4, 16), 0.4),
            new HeadStat("a", "r", 0, 0, 0, 1024, 1, StatNames.streamDeviation(4, 64), 0.2),
            new HeadStat("a", "r", 0, 0, 0, 1024, 1, StatNames.coverage(4, 16), 0.6),
            new HeadStat("a", "r", 0, 0, 0, 1024, 1, StatNames.sinkMass(4), 0.3),
            new HeadStat("a", "r", 0, 0, 0, 1024, 1, StatNames.localMass(16), 0.5));
    HeadStatsTable t = HeadStatsTable.of(rows);
    // w = 32 is halfway between 16 and 64 on a log scale
    assertEquals(0.3, t.interpolate(WindowedStat.STREAM_DEVIATION, 4, 0, 0, 1024, 32), 1e-12);
    // between the largest grid window (64) and the bucket length (1024, deviation 0): log-linear
    assertEquals(0.1, t.interpolate(WindowedStat.STREAM_DEVIATION, 4, 0, 0, 1024, 256), 1e-12);
    assertEquals(0.0, t.interpolate(WindowedStat.STREAM_DEVIATION, 4, 0, 0, 1024, 5000), 0);
    // below the grid: deviation is held, coverage falls to the sink mass, local mass to 0
    assertEquals(0.4, t.interpolate(WindowedStat.STREAM_DEVIATION, 4, 0, 0, 1024, 2), 1e-12);
    assertEquals(0.45, t.interpolate(WindowedStat.COVERAGE, 4, 0, 0, 1024, 8), 1e-12);
    assertEquals(0.25, t.interpolate(WindowedStat.LOCAL_MASS, 0, 0, 0, 1024, 8), 1e-12);
    assertEquals(1.0, t.interpolate(WindowedStat.COVERAGE, 4, 0, 0, 1024, 1024), 0);
    HeadwiseException e =
        assertThrows(
            HeadwiseException.class,
            () -> t.interpolate(WindowedStat.STREAM_DEVIATION, 1, 0, 0, 1024, 8));
    assertTrue(e.getMessage().contains("sink count 1"), e.getMessage());
  }

  @Test
  void picksTheNearestBucketOnALogScale() {
    TreeSet<Integer> buckets = new TreeSet<>(List.of(256, 1024, 4096));
    assertEquals(1024, HeadStatsTable.nearestBucket(buckets, 600));
    assertEquals(256, HeadStatsTable.nearestBucket(buckets, 400));
    assertEquals(4096, HeadStatsTable.nearestBucket(buckets, 100000));
    assertEquals(1024, HeadStatsTable.nearestBucket(buckets, 512)); // tie goes to the longer bucket
  }

  @Test
  void requireNamesTheStatisticAndItsProducer() {
    HeadStatsTable t = new TestStats("m", 1, 2, 2).withoutProbes().table(64);
    HeadwiseException e =
        assertThrows(
            HeadwiseException.class,
            () -> t.require("razor", StatNames.ECHO_SCORE, "the repeated-token probes"));
    assertTrue(
        e.getMessage().contains("echo_score") && e.getMessage().contains("repeated-token probes"));
  }
}
