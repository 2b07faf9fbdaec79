package io.headwise.jobs;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import io.headwise.export.attention.DecodeGraphExporter;
import io.headwise.export.attention.DecodeLoop;
import io.headwise.graph.ModelFeeds;
import io.headwise.graph.ModelInputs;
import io.headwise.graph.OnnxModel;
import io.headwise.graph.OrtModels;
import io.headwise.profilers.Batch;
import io.headwise.profilers.CalibrationSample;
import io.headwise.profilers.eval.OutputComparison;
import io.headwise.schemas.HeadwiseException;
import java.nio.FloatBuffer;
import java.util.List;
import java.util.Map;

/**
 * A plan measured through its decode graph ({@code evaluate --decode}): every held-out sample is
 * decoded teacher-forced, its first token as the prompt and then one token per step, so budget
 * policies evict as they would while generating; the logits at every position are compared with the
 * dense model's (KL, top-1, NLL, repeat/passkey accuracy, as the prefill-simulation evaluation
 * computes them). Runs in the driver, one sample at a time.
 */
final class DecodeEvaluation {
  private DecodeEvaluation() {}

  static OutputComparison.Metrics run(
      OnnxModel dense,
      OnnxModel decoder,
      DecodeGraphExporter.DecodeGraph graph,
      List<CalibrationSample> samples,
      int threads) {
    OutputComparison comparison = new OutputComparison();
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
      if (threads > 0) {
        options.setIntraOpNumThreads(threads);
      }
      try (OrtSession denseSession = OrtModels.session(dense, dense.proto(), options);
          OrtSession decodeSession = OrtModels.session(decoder, graph.proto(), options)) {
        ModelInputs inputs = ModelInputs.of(dense.graph());
        for (CalibrationSample s : samples) {
          for (int m : s.attentionMask() == null ? new int[0] : s.attentionMask()) {
            if (m == 0) {
              throw new HeadwiseException(
                  "sample '"
                      + s.sampleId()
                      + "' has padding; decode evaluation feeds"
                      + " unpadded sequences");
            }
          }
          Batch batch = Batch.pad(s.kind(), List.of(s), s.length());
          float[] reference;
          Map<String, OnnxTensor> feeds = ModelFeeds.create(env, inputs, batch.ids(), batch.mask());
          try (OrtSession.Result r = denseSession.run(feeds)) {
            FloatBuffer fb = ((OnnxTensor) r.get(0)).getFloatBuffer();
            reference = new float[fb.remaining()];
            fb.get(reference);
          } finally {
            feeds.values().forEach(OnnxTensor::close);
          }
          int vocab = reference.length / s.length();
          float[] candidate = new float[reference.length];
          try (DecodeLoop loop = new DecodeLoop(decodeSession, graph.proto().getGraph())) {
            for (int t = 0; t < s.length(); t++) {
              float[] logits = loop.step(new long[] {s.inputIds()[t]});
              System.arraycopy(logits, 0, candidate, t * vocab, vocab);
            }
          }
          comparison.add(batch, reference, candidate, vocab, true);
        }
      }
    } catch (OrtException e) {
      throw new HeadwiseException(
          "ONNX Runtime failed in the decode evaluation: " + e.getMessage(), e);
    }
    return comparison.metrics();
  }
}
