package io.headwise.profilers.quant;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import io.headwise.graph.AttentionMap;
import io.headwise.graph.ModelFeeds;
import io.headwise.graph.ModelInputs;
import io.headwise.graph.OnnxModel;
import io.headwise.graph.OrtModels;
import io.headwise.profilers.AttentionTiling;
import io.headwise.profilers.Batch;
import io.headwise.profilers.ExecutionProvider;
import io.headwise.profilers.OrtSessionFactory;
import io.headwise.schemas.HeadwiseException;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * An ONNX Runtime session over a {@link HessianCapture}-instrumented model, attention query-tiled
 * by default. Only the capture outputs are fetched ({@code [K, K]} per group), never the model's
 * own outputs.
 */
public final class HessianSession implements AutoCloseable {

  private final CaptureModel capture;
  private final ModelInputs inputs;
  private final OrtSession session;
  private final Set<String> fetch = new LinkedHashSet<>();

  /** Instruments {@code model} for {@code groups} and opens a session on {@code ep}. */
  public HessianSession(
      OnnxModel model,
      AttentionMap map,
      List<HessianGroup> groups,
      CaptureConfig config,
      ExecutionProvider ep,
      int threads) {
    this(model, map, groups, config, ep, threads, AttentionTiling.GRAPH_BLOCK);
  }

  /**
   * As above with the attention query-tiled at {@code queryBlock} rows (0: the model's own
   * attention).
   */
  public HessianSession(
      OnnxModel model,
      AttentionMap map,
      List<HessianGroup> groups,
      CaptureConfig config,
      ExecutionProvider ep,
      int threads,
      int queryBlock) {
    this.capture = HessianCapture.instrument(model, map, groups, config, queryBlock);
    this.inputs = ModelInputs.of(model.graph());
    this.session = OrtSessionFactory.open(model, capture.proto(), ep, threads);
    fetch.add(CaptureModel.TOKENS);
    for (HessianGroup g : groups) {
      fetch.add(CaptureModel.gramOutput(g.id()));
      fetch.add(CaptureModel.rowsOutput(g.id()));
    }
  }

  /** The instrumented model. */
  public CaptureModel capture() {
    return capture;
  }

  /**
   * Runs one padded batch and adds its sums (in double) and counts to {@code into}, whose group
   * {@code i} is the i-th group this session captures.
   */
  public void run(Batch batch, HessianSums into) {
    Map<String, OnnxTensor> feeds = new HashMap<>();
    try {
      feeds.putAll(
          ModelFeeds.create(OrtEnvironment.getEnvironment(), inputs, batch.ids(), batch.mask()));
      try (OrtSession.Result r = session.run(feeds, fetch)) {
        long expectedRows = (long) batch.size() * batch.length();
        for (int i = 0; i < capture.groups().size(); i++) {
          HessianGroup g = capture.groups().get(i);
          long rows =
              ((OnnxTensor) r.get(CaptureModel.rowsOutput(g.id())).orElseThrow())
                  .getLongBuffer()
                  .get(0);
          if (rows != expectedRows) {
            throw new HeadwiseException(
                "the input "
                    + g.inputTensor()
                    + " of "
                    + g.linears().get(0).describe()
                    + " has "
                    + rows
                    + " rows of "
                    + g.inFeatures()
                    + " values for a batch of "
                    + batch.size()
                    + " × "
                    + batch.length()
                    + " tokens; Hessian capture needs token-major [batch, seq, K] or [batch·seq, K]"
                    + " inputs");
          }
          into.add(
              i,
              OrtModels.floats((OnnxTensor) r.get(CaptureModel.gramOutput(g.id())).orElseThrow()));
        }
        float tokens =
            ((OnnxTensor) r.get(CaptureModel.TOKENS).orElseThrow()).getFloatBuffer().get(0);
        into.count(Math.round(tokens), batch.size());
      }
    } catch (OrtException e) {
      throw new HeadwiseException(
          "ONNX Runtime failed capturing Hessians on a batch of "
              + batch.size()
              + " × "
              + batch.length()
              + " tokens: "
              + OrtModels.firstLine(e.getMessage()),
          e);
    } finally {
      feeds.values().forEach(OnnxTensor::close);
    }
  }

  /**
   * Runs one batch and returns the named extra outputs (test outputs of {@link
   * CaptureConfig#exposeInputs()}).
   */
  public Map<String, float[]> runOutputs(Batch batch, Set<String> names) {
    Map<String, OnnxTensor> feeds = new HashMap<>();
    try {
      feeds.putAll(
          ModelFeeds.create(OrtEnvironment.getEnvironment(), inputs, batch.ids(), batch.mask()));
      try (OrtSession.Result r = session.run(feeds, names)) {
        Map<String, float[]> out = new HashMap<>();
        for (String n : names) {
          out.put(n, OrtModels.floats((OnnxTensor) r.get(n).orElseThrow()));
        }
        return out;
      }
    } catch (OrtException e) {
      throw new HeadwiseException("ONNX Runtime failed: " + OrtModels.firstLine(e.getMessage()), e);
    } finally {
      feeds.values().forEach(OnnxTensor::close);
    }
  }

  @Override
  public void close() {
    OrtModels.close(session);
  }
}
