package io.headwise.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import io.headwise.export.attention.DecodeGraphExporter;
import io.headwise.export.attention.HeadwiseAttentionExporter;
import io.headwise.graph.AttentionLocator;
import io.headwise.graph.AttentionMap;
import io.headwise.graph.ModelFeeds;
import io.headwise.graph.ModelInputs;
import io.headwise.graph.OnnxModel;
import io.headwise.graph.OrtModels;
import io.headwise.graph.TestModels;
import io.headwise.profilers.Batch;
import io.headwise.profilers.CalibrationSample;
import io.headwise.profilers.IdArrays;
import io.headwise.profilers.eval.OutputComparison;
import io.headwise.schemas.PlanMeta;
import io.headwise.schemas.PlanRow;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * {@code evaluate --decode} on stories260k: the dense plan through its decode graph agrees with the
 * dense model, and a static plan measured through the decode graph gives the prefill simulation's
 * metrics (the two paths implement the same plan).
 */
class DecodeEvaluationTest {
  @Test
  void staticPlanThroughTheDecodeGraphMatchesThePrefillSimulation() throws Exception {
    OnnxModel plain = OnnxModel.load(TestModels.stories260k());
    OnnxModel decoder =
        OnnxModel.load(TestModels.stories260k().resolveSibling("stories260k_past.onnx"));
    AttentionMap map = AttentionLocator.locate(plain);
    PlanMeta meta =
        new PlanMeta(
            "w",
            plain.modelId(),
            "s",
            "streamingllm",
            0.5,
            List.of(64),
            Map.of(64, 0.5),
            map.numLayers(),
            map.block(0).numHeads(),
            map.block(0).numKvHeads(),
            0L);
    List<PlanRow> streaming = new ArrayList<>();
    List<PlanRow> dense = new ArrayList<>();
    for (int l = 0; l < map.numLayers(); l++) {
      for (int h = 0; h < map.block(l).numKvHeads(); h++) {
        streaming.add(
            new PlanRow(
                "w",
                plain.modelId(),
                "s",
                "streamingllm",
                PlanRow.KV_HEAD,
                l,
                h,
                PlanRow.STREAMING,
                2,
                10,
                0,
                0,
                "{}"));
        dense.add(
            new PlanRow(
                "w",
                plain.modelId(),
                "s",
                "dense",
                PlanRow.KV_HEAD,
                l,
                h,
                PlanRow.FULL,
                0,
                0,
                0,
                0,
                "{}"));
      }
    }
    int[][] calib = IdArrays.read(TestModels.stories260kCalibration(), "calib");
    List<CalibrationSample> samples =
        List.of(
            CalibrationSample.of(
                "a", Arrays.copyOf(calib[0], 64), null, CalibrationSample.SOURCE_IDS),
            CalibrationSample.of(
                "b", Arrays.copyOf(calib[1], 48), null, CalibrationSample.SOURCE_IDS));
    AttentionMap decoderMap = AttentionLocator.locate(decoder);
    OutputComparison.Metrics denseDecode =
        DecodeEvaluation.run(
            plain,
            decoder,
            DecodeGraphExporter.rewrite(decoder, decoderMap, plain, meta, dense),
            samples,
            1);
    assertTrue(denseDecode.klMean() < 1e-8, "dense plan KL " + denseDecode.klMean());
    assertEquals(1.0, denseDecode.top1Agreement(), 1e-12);

    OutputComparison.Metrics decoded =
        DecodeEvaluation.run(
            plain,
            decoder,
            DecodeGraphExporter.rewrite(decoder, decoderMap, plain, meta, streaming),
            samples,
            1);
    ModelProto simulated = HeadwiseAttentionExporter.rewrite(plain, map, meta, streaming);
    OutputComparison prefill = new OutputComparison();
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    try (OrtSession.SessionOptions o = new OrtSession.SessionOptions();
        OrtSession ref = OrtModels.session(plain, plain.proto(), o);
        OrtSession sim = OrtModels.session(plain, simulated, o)) {
      for (CalibrationSample s : samples) {
        Batch batch = Batch.pad(s.kind(), List.of(s), s.length());
        float[] r = logits(ref, env, plain, batch);
        float[] c = logits(sim, env, plain, batch);
        prefill.add(batch, r, c, r.length / s.length(), true);
      }
    }
    OutputComparison.Metrics p = prefill.metrics();
    System.out.println("decode KL " + decoded.klMean() + " vs prefill simulation KL " + p.klMean());
    assertTrue(p.klMean() > 1e-3, "the plan should cost something: " + p.klMean());
    assertEquals(p.klMean(), decoded.klMean(), 1e-4 * p.klMean() + 1e-7);
    assertEquals(p.top1Agreement(), decoded.top1Agreement(), 1e-12);
  }

  private static float[] logits(OrtSession s, OrtEnvironment env, OnnxModel m, Batch b)
      throws Exception {
    Map<String, OnnxTensor> feeds =
        ModelFeeds.create(env, ModelInputs.of(m.graph()), b.ids(), b.mask());
    try (OrtSession.Result r = s.run(feeds)) {
      FloatBuffer fb = ((OnnxTensor) r.get(0)).getFloatBuffer();
      float[] out = new float[fb.remaining()];
      fb.get(out);
      return out;
    } finally {
      feeds.values().forEach(OnnxTensor::close);
    }
  }
}
