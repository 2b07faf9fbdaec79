package io.headwise.export;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.ModelProto;
import io.headwise.export.attention.HeadwiseAttentionExporter;
import io.headwise.graph.AttentionLocator;
import io.headwise.graph.AttentionMap;
import io.headwise.graph.OnnxModel;
import io.headwise.graph.TestModels;
import io.headwise.profilers.Batch;
import io.headwise.profilers.CalibrationSample;
import io.headwise.profilers.ExecutionProvider;
import io.headwise.profilers.IdArrays;
import io.headwise.profilers.ProbeKind;
import io.headwise.profilers.SensitivityProfiler;
import io.headwise.profilers.StatsAccumulator;
import io.headwise.profilers.eval.ModelRunner;
import io.headwise.profilers.eval.OutputComparison;
import io.headwise.schemas.HeadStat;
import io.headwise.schemas.PlanMeta;
import io.headwise.schemas.PlanRow;
import io.headwise.schemas.StatNames;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.BiPredicate;
import org.junit.jupiter.api.Test;

/**
 * Two independent routes agree: the sensitivity profiler's output KL of switching one kv group (or
 * a whole layer) to sinks + window (ablation graph with scalar selectors) equals the KL of the
 * HeadwiseAttention export of the plan that streams only that group (or layer), evaluated against
 * the dense model on the same batch.
 */
class SensitivityConsistencyTest {
  private static final int SINKS = 4;
  private static final int LENGTH = 96;

  @Test
  void ablationMatchesTheExportedPlanAndTheDenseModel() {
    OnnxModel model = OnnxModel.load(TestModels.stories260k());
    AttentionMap map = AttentionLocator.locate(model);
    List<CalibrationSample> samples = samples();
    int window = 16;
    int layer = 2;
    int kv = 1;
    StatsAccumulator acc =
        new SensitivityProfiler(model, map, ExecutionProvider.CPU, 2, SINKS, List.of(window))
            .profile(LENGTH, samples, 3);
    double measured = value(acc, model, map, layer, 2 * kv, StatNames.outputKl(SINKS, window));
    assertTrue(measured > 1e-4, "switching a head changes the output: " + measured);
    assertEquals(
        measured, exportedKl(model, map, samples, (l, k) -> l == layer && k == kv, window), 1e-4);
  }

  @Test
  void wholeLayerAblationMatchesTheExportedPlanThatStreamsTheLayer() {
    OnnxModel model = OnnxModel.load(TestModels.stories260k());
    AttentionMap map = AttentionLocator.locate(model);
    List<CalibrationSample> samples = samples();
    int layer = 1;
    List<Integer> windows = SensitivityProfiler.layerWindowsFor(LENGTH);
    assertEquals(List.of(24, 48), windows);
    StatsAccumulator acc =
        new SensitivityProfiler(model, map, ExecutionProvider.CPU, 2, SINKS, List.of())
            .profileLayers(LENGTH, samples, 3);
    for (int window : windows) {
      String stat = StatNames.layerOutputKl(SINKS, window);
      double measured = value(acc, model, map, layer, 0, stat);
      // the layer's value is written for each of its query heads
      assertEquals(measured, value(acc, model, map, layer, 7, stat), 0.0);
      double oneGroup = exportedKl(model, map, samples, (l, k) -> l == layer && k == 0, window);
      assertTrue(
          measured > oneGroup + 1e-4,
          "switching the whole layer costs more than one group: " + measured + " vs " + oneGroup);
      assertEquals(measured, exportedKl(model, map, samples, (l, k) -> l == layer, window), 1e-4);
    }
  }

  private static List<CalibrationSample> samples() {
    int[][] ids = IdArrays.read(TestModels.stories260kCalibration(), "ids");
    List<CalibrationSample> samples = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      samples.add(
          CalibrationSample.of(
              "s" + i, Arrays.copyOf(ids[i], LENGTH), null, CalibrationSample.SOURCE_IDS));
    }
    return samples;
  }

  private static double value(
      StatsAccumulator acc, OnnxModel model, AttentionMap map, int layer, int head, String stat) {
    return acc.toHeadStats(model.modelId(), "t", map).stream()
        .filter(h -> h.layer() == layer && h.head() == head && h.stat().equals(stat))
        .mapToDouble(HeadStat::value)
        .findFirst()
        .orElseThrow();
  }

  /** The KL to the dense model of the exported plan streaming the (layer, kv head)s selected. */
  private static double exportedKl(
      OnnxModel model,
      AttentionMap map,
      List<CalibrationSample> samples,
      BiPredicate<Integer, Integer> streamed,
      int window) {
    List<PlanRow> rows = new ArrayList<>();
    for (int l = 0; l < 5; l++) {
      for (int k = 0; k < 4; k++) {
        boolean s = streamed.test(l, k);
        rows.add(
            new PlanRow(
                "streamed",
                model.modelId(),
                "t",
                "test",
                PlanRow.KV_HEAD,
                l,
                k,
                s ? PlanRow.STREAMING : PlanRow.FULL,
                s ? SINKS : 0,
                s ? window : 0,
                s ? 0 : 1,
                0,
                "{}"));
      }
    }
    PlanMeta meta =
        new PlanMeta(
            "streamed",
            model.modelId(),
            "t",
            "test",
            0.9,
            List.of(LENGTH),
            Map.of(LENGTH, 0.9),
            5,
            8,
            4,
            0L);
    ModelProto exported = HeadwiseAttentionExporter.rewrite(model, map, meta, rows);
    Batch batch = Batch.pad(ProbeKind.PLAIN, samples, LENGTH);
    long vocab = 512;
    OutputComparison cmp = new OutputComparison();
    try (ModelRunner dense =
            new ModelRunner(model, model.proto(), ExecutionProvider.CPU, 2, vocab);
        ModelRunner plan = new ModelRunner(model, exported, ExecutionProvider.CPU, 2, vocab)) {
      ModelRunner.Output d = dense.run(batch);
      cmp.add(batch, d.values(), plan.run(batch).values(), d.lastDim(), true);
      return cmp.metrics().klMean();
    }
  }
}
