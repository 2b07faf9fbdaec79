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
import org.junit.jupiter.api.Test;

/**
 * Two independent routes agree: the sensitivity profiler's output KL of switching one kv group to
 * sinks + window (ablation graph with scalar selectors) equals the KL of the HeadwiseAttention
 * export of the plan that streams only that group, evaluated against the dense model on the same
 * batch.
 */
class SensitivityConsistencyTest {
  @Test
  void ablationMatchesTheExportedPlanAndTheDenseModel() {
    OnnxModel model = OnnxModel.load(TestModels.stories260k());
    AttentionMap map = AttentionLocator.locate(model);
    int[][] ids = IdArrays.read(TestModels.stories260kCalibration(), "ids");
    List<CalibrationSample> samples = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      samples.add(
          CalibrationSample.of(
              "s" + i, Arrays.copyOf(ids[i], 96), null, CalibrationSample.SOURCE_IDS));
    }
    int sinks = 4;
    int window = 16;
    int layer = 2;
    int kv = 1;
    StatsAccumulator acc =
        new SensitivityProfiler(model, map, ExecutionProvider.CPU, 2, sinks, List.of(window))
            .profile(96, samples, 3);
    double measured =
        acc.toHeadStats(model.modelId(), "t", map).stream()
            .filter(
                h ->
                    h.layer() == layer
                        && h.head() == 2 * kv
                        && h.stat().equals(StatNames.outputKl(sinks, window)))
            .mapToDouble(HeadStat::value)
            .findFirst()
            .orElseThrow();
    assertTrue(measured > 1e-4, "switching a head changes the output: " + measured);

    List<PlanRow> rows = new ArrayList<>();
    for (int l = 0; l < 5; l++) {
      for (int k = 0; k < 4; k++) {
        boolean streamed = l == layer && k == kv;
        rows.add(
            new PlanRow(
                "one-head",
                model.modelId(),
                "t",
                "test",
                PlanRow.KV_HEAD,
                l,
                k,
                streamed ? PlanRow.STREAMING : PlanRow.FULL,
                streamed ? sinks : 0,
                streamed ? window : 0,
                streamed ? 0 : 1,
                0,
                "{}"));
      }
    }
    PlanMeta meta =
        new PlanMeta(
            "one-head",
            model.modelId(),
            "t",
            "test",
            0.9,
            List.of(96),
            Map.of(96, 0.9),
            5,
            8,
            4,
            0L);
    ModelProto exported = HeadwiseAttentionExporter.rewrite(model, map, meta, rows);
    Batch batch = Batch.pad(ProbeKind.PLAIN, samples, 96);
    long vocab = 512;
    OutputComparison cmp = new OutputComparison();
    try (ModelRunner dense =
            new ModelRunner(model, model.proto(), ExecutionProvider.CPU, 2, vocab);
        ModelRunner plan = new ModelRunner(model, exported, ExecutionProvider.CPU, 2, vocab)) {
      ModelRunner.Output d = dense.run(batch);
      cmp.add(batch, d.values(), plan.run(batch).values(), d.lastDim(), true);
      assertEquals(measured, cmp.metrics().klMean(), 1e-4);
    }
  }
}
