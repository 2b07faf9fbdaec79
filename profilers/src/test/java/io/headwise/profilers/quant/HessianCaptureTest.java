package io.headwise.profilers.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.headwise.graph.AttentionLocator;
import io.headwise.graph.AttentionMap;
import io.headwise.graph.OnnxModel;
import io.headwise.graph.TestModels;
import io.headwise.profilers.Batch;
import io.headwise.profilers.BatchStats;
import io.headwise.profilers.CalibrationSample;
import io.headwise.profilers.ExecutionProvider;
import io.headwise.profilers.IdArrays;
import io.headwise.profilers.ProbeKind;
import io.headwise.profilers.StatsConfig;
import io.headwise.profilers.StatsSession;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * The linear layers found inside the blocks of stories260k and MiniLM, and the in-graph Hessians
 * checked against a direct double computation from the exposed layer inputs and the profiler's
 * token importance, on a right-padded batch; partial sums merge to the one-pass sums.
 */
class HessianCaptureTest {
  private static final Pattern LAYER = Pattern.compile("layers?\\.(\\d+)/");

  @AfterAll
  static void closeSessions() {
    HessianSessions.closeAll();
  }

  @Test
  void stories260kHasSevenLinearsPerBlockAndNoLmHead() {
    OnnxModel model = OnnxModel.load(TestModels.stories260k());
    AttentionMap map = AttentionLocator.locate(model);
    List<LinearLayer> layers = LinearLayers.find(model.graph(), map);
    assertEquals(35, layers.size());
    Set<String> kinds = new HashSet<>();
    for (LinearLayer l : layers) {
      assertFalse(l.nodeName().contains("lm_head"), l.nodeName());
      Matcher m = LAYER.matcher(l.nodeName());
      assertTrue(m.find(), l.nodeName());
      assertEquals(Integer.parseInt(m.group(1)), l.layer(), l.nodeName());
      String kind = l.nodeName().replaceAll(".*/(\\w+_proj)/.*", "$1");
      kinds.add(kind);
      assertEquals(
          kind.equals("o_proj") || kind.equals("down_proj"), l.writesResidual(), l.nodeName());
      int expectedK = kind.equals("down_proj") ? 172 : 64;
      assertEquals(expectedK, l.inFeatures(), l.nodeName());
    }
    assertEquals(
        Set.of("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"), kinds);
    List<HessianGroup> groups = LinearLayers.groups(layers);
    assertEquals(20, groups.size());
    assertEquals(3, groups.get(0).linears().size());
  }

  @Test
  void miniLmHasSixLinearsPerBlock() {
    OnnxModel model = OnnxModel.load("default");
    List<LinearLayer> layers = LinearLayers.find(model.graph(), AttentionLocator.locate(model));
    assertEquals(36, layers.size());
    assertEquals(24, LinearLayers.groups(layers).size());
    assertEquals(12, layers.stream().filter(LinearLayer::writesResidual).count());
  }

  @Test
  void rsqHessiansMatchDirectComputationOnPaddedBatch() {
    OnnxModel model = OnnxModel.load(TestModels.stories260k());
    AttentionMap map = AttentionLocator.locate(model);
    List<HessianGroup> groups = LinearLayers.groups(LinearLayers.find(model.graph(), map));
    int[][] ids = IdArrays.read(TestModels.stories260kCalibration(), "calib");
    List<CalibrationSample> samples =
        List.of(
            CalibrationSample.of(
                "a", Arrays.copyOf(ids[0], 64), null, CalibrationSample.SOURCE_IDS),
            CalibrationSample.of(
                "b", Arrays.copyOf(ids[1], 41), null, CalibrationSample.SOURCE_IDS));
    Batch batch = Batch.pad(ProbeKind.PLAIN, samples, 64);
    double rMin = 0.005;

    // reference token weights from the statistics profiler's importance output
    List<float[][]> importance;
    try (StatsSession stats =
        new StatsSession(
            model, map, StatsConfig.defaults(), ProbeKind.PLAIN, 64, ExecutionProvider.CPU, 1)) {
      BatchStats s = stats.run(batch);
      importance = s.importance();
    }

    CaptureConfig config = CaptureConfig.attentionConcentration(rMin).withExposedInputs(true);
    try (HessianSession session =
        new HessianSession(model, map, groups, config, ExecutionProvider.CPU, 1)) {
      Set<String> names = new HashSet<>();
      for (HessianGroup g : groups) {
        names.add(CaptureModel.inputOutput(g.id()));
      }
      names.addAll(session.capture().weightOutputs().values());
      Map<String, float[]> exposed = session.runOutputs(batch, names);
      HessianSums sums = HessianSums.of(groups);
      session.run(batch, sums);
      assertEquals(64 + 41, sums.tokens());
      assertEquals(2, sums.sequences());

      for (int layer = 0; layer < map.numLayers(); layer++) {
        double[] expected = referenceWeights(importance.get(layer), batch, rMin);
        float[] actual = exposed.get(CaptureModel.weightsOutput(layer));
        for (int i = 0; i < expected.length; i++) {
          assertEquals(
              expected[i],
              actual[i],
              1e-5 * Math.max(1, expected[i]),
              "layer " + layer + " token " + i);
        }
      }
      for (HessianGroup g : groups) {
        float[] x = exposed.get(CaptureModel.inputOutput(g.id()));
        float[] w = exposed.get(CaptureModel.weightsOutput(g.layer()));
        int k = g.inFeatures();
        double[] direct = new double[k * k];
        double scale = 0;
        for (int row = 0; row < w.length; row++) {
          for (int i = 0; i < k; i++) {
            double xi = w[row] * (double) x[row * k + i];
            for (int j = 0; j < k; j++) {
              direct[i * k + j] += xi * x[row * k + j];
            }
          }
        }
        for (double v : direct) {
          scale = Math.max(scale, Math.abs(v));
        }
        double[] captured = sums.sum(g.id());
        for (int i = 0; i < k * k; i++) {
          assertEquals(direct[i], captured[i], 2e-5 * scale, "group " + g.id() + " entry " + i);
        }
      }
    }
  }

  /**
   * The capture graph with attention through the query-tiled core (blocks of 16 rows on a batch of
   * 64) gives the Hessians of the model's own attention, uniform and RSQ-weighted (whose token
   * weights then come from the core's column mass), within 1e-5 of the largest entry.
   */
  @Test
  void tiledAttentionGivesTheSameHessians() {
    OnnxModel model = OnnxModel.load(TestModels.stories260k());
    AttentionMap map = AttentionLocator.locate(model);
    List<HessianGroup> groups = LinearLayers.groups(LinearLayers.find(model.graph(), map));
    int[][] ids = IdArrays.read(TestModels.stories260kCalibration(), "calib");
    Batch batch =
        Batch.pad(
            ProbeKind.PLAIN,
            List.of(
                CalibrationSample.of(
                    "a", Arrays.copyOf(ids[0], 64), null, CalibrationSample.SOURCE_IDS),
                CalibrationSample.of(
                    "b", Arrays.copyOf(ids[1], 41), null, CalibrationSample.SOURCE_IDS)),
            64);
    for (CaptureConfig config :
        List.of(CaptureConfig.uniform(), CaptureConfig.attentionConcentration(0.005))) {
      HessianSums untiled = HessianSums.of(groups);
      HessianSums tiled = HessianSums.of(groups);
      try (HessianSession a =
              new HessianSession(model, map, groups, config, ExecutionProvider.CPU, 1, 0);
          HessianSession b =
              new HessianSession(model, map, groups, config, ExecutionProvider.CPU, 1, 16)) {
        a.run(batch, untiled);
        b.run(batch, tiled);
        assertFalse(
            b.capture().proto().getGraph().getNodeList().stream()
                .anyMatch(n -> n.getOpType().equals("Softmax")),
            "no softmax outside the loops");
      }
      for (HessianGroup g : groups) {
        double[] x = untiled.sum(g.id());
        double[] y = tiled.sum(g.id());
        double scale = Arrays.stream(x).map(Math::abs).max().orElseThrow();
        assertTrue(scale > 0);
        for (int i = 0; i < x.length; i++) {
          assertEquals(
              x[i], y[i], 1e-5 * scale, config.weighting() + " group " + g.id() + " entry " + i);
        }
      }
    }
  }

  @Test
  void uniformPartialSumsMergeToOnePass() {
    OnnxModel model = OnnxModel.load(TestModels.stories260k());
    AttentionMap map = AttentionLocator.locate(model);
    List<HessianGroup> groups = LinearLayers.groups(LinearLayers.find(model.graph(), map));
    int[][] ids = IdArrays.read(TestModels.stories260kCalibration(), "calib");
    List<CalibrationSample> all = new ArrayList<>();
    for (int i = 0; i < 4; i++) {
      all.add(
          CalibrationSample.of(
              "s" + i, Arrays.copyOf(ids[i], 32 + 16 * i), null, CalibrationSample.SOURCE_IDS));
    }
    CaptureConfig config = CaptureConfig.uniform();
    HessianSums onePass =
        new HessianProfiler(model, map, groups, config, ExecutionProvider.CPU, 1, 1).capture(all);
    HessianSums merged =
        new HessianProfiler(model, map, groups, config, ExecutionProvider.CPU, 1, 1)
            .capture(all.subList(0, 2));
    merged.merge(
        new HessianProfiler(model, map, groups, config, ExecutionProvider.CPU, 1, 1)
            .capture(all.subList(2, 4)));
    assertEquals(onePass.tokens(), merged.tokens());
    assertEquals(32 + 48 + 64 + 80, onePass.tokens());
    for (HessianGroup g : groups) {
      double[] a = onePass.sum(g.id());
      double[] b = merged.sum(g.id());
      for (int i = 0; i < a.length; i++) {
        assertEquals(a[i], b[i], 1e-12 * Math.max(1, Math.abs(a[i])));
      }
    }
  }

  /**
   * RSQ's weights from raw importance [B][T]: min-max over valid tokens to [rMin, 1], then mean 1;
   * 0 at padding.
   */
  private static double[] referenceWeights(float[][] received, Batch batch, double rMin) {
    int b = batch.size();
    int t = batch.length();
    double[] out = new double[b * t];
    for (int row = 0; row < b; row++) {
      double min = Double.POSITIVE_INFINITY;
      double max = Double.NEGATIVE_INFINITY;
      int valid = 0;
      for (int i = 0; i < t; i++) {
        if (batch.mask()[row][i] != 0) {
          min = Math.min(min, received[row][i]);
          max = Math.max(max, received[row][i]);
          valid++;
        }
      }
      double[] r = new double[t];
      double mean = 0;
      for (int i = 0; i < t; i++) {
        if (batch.mask()[row][i] != 0) {
          r[i] =
              max > min
                  ? Math.min(
                      1, Math.max(rMin, (received[row][i] - min) / (max - min) * (1 - rMin) + rMin))
                  : 1;
          mean += r[i];
        }
      }
      mean /= valid;
      for (int i = 0; i < t; i++) {
        out[row * t + i] = r[i] / mean;
      }
    }
    return out;
  }
}
