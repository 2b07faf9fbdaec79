package io.headwise.profilers.eval;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import io.headwise.graph.ModelFeeds;
import io.headwise.graph.ModelInputs;
import io.headwise.graph.OnnxModel;
import io.headwise.graph.OrtModels;
import io.headwise.profilers.Batch;
import io.headwise.profilers.ExecutionProvider;
import io.headwise.profilers.OrtSessionFactory;
import io.headwise.schemas.HeadwiseException;
import java.util.Arrays;
import java.util.Map;
import java.util.Set;

/**
 * Runs a model (or a rewrite of it) on padded batches and returns its first output — logits or
 * final hidden states — as a row-major float array with its last dimension.
 */
public final class ModelRunner implements AutoCloseable {
  /** One batch's first output: values [B, T, V] and V. */
  public record Output(float[] values, int lastDim, boolean logits) {}

  private final OrtSession session;
  private final ModelInputs inputs;
  private final String output;
  private final long vocab;

  /**
   * A runner over {@code proto} (a rewrite of {@code model}); {@code vocab} tells logits from
   * hidden states.
   */
  public ModelRunner(
      OnnxModel model, ModelProto proto, ExecutionProvider ep, int threads, long vocab) {
    this.session = OrtSessionFactory.open(model, proto, ep, threads);
    this.inputs = ModelInputs.of(model.graph());
    this.output = session.getOutputNames().iterator().next();
    this.vocab = vocab;
  }

  public Output run(Batch batch) {
    Map<String, OnnxTensor> feeds = null;
    try {
      feeds = ModelFeeds.create(OrtEnvironment.getEnvironment(), inputs, batch.ids(), batch.mask());
      try (OrtSession.Result r = session.run(feeds, Set.of(output))) {
        OnnxTensor t = (OnnxTensor) r.get(0);
        long[] shape = t.getInfo().getShape();
        if (shape.length != 3) {
          throw new HeadwiseException(
              "the model's first output '"
                  + output
                  + "' has shape "
                  + Arrays.toString(shape)
                  + "; evaluation needs [batch, seq, vocab|hidden]");
        }
        return new Output(OrtModels.floats(t), (int) shape[2], vocab > 0 && shape[2] == vocab);
      }
    } catch (OrtException e) {
      throw new HeadwiseException(
          "ONNX Runtime failed on an evaluation batch: " + e.getMessage(), e);
    } finally {
      if (feeds != null) {
        feeds.values().forEach(OnnxTensor::close);
      }
    }
  }

  @Override
  public void close() {
    OrtModels.close(session);
  }
}
