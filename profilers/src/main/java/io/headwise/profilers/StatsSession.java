package io.headwise.profilers;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import io.headwise.graph.AttentionMap;
import io.headwise.graph.ModelFeeds;
import io.headwise.graph.ModelInputs;
import io.headwise.graph.OnnxModel;
import io.headwise.graph.OrtModels;
import io.headwise.schemas.HeadwiseException;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * An ONNX Runtime session over an instrumented model; one session serves many batches of its probe
 * kind and length limit. Only the statistic outputs are fetched, never the model's own outputs or
 * any [B, H, T, T] tensor.
 */
public final class StatsSession implements AutoCloseable {
  private final InstrumentedModel instrumented;
  private final ModelInputs inputs;
  private final OrtSession session;
  private final Set<String> fetch = new LinkedHashSet<>();

  public StatsSession(
      OnnxModel model,
      AttentionMap map,
      StatsConfig config,
      ProbeKind kind,
      int maxLength,
      ExecutionProvider ep,
      int threads) {
    this(model, map, config, kind, maxLength, 0, ep, threads);
  }

  /**
   * A session whose graph runs attention through the query-tiled core with {@code queryBlock} rows
   * (0: untiled).
   */
  public StatsSession(
      OnnxModel model,
      AttentionMap map,
      StatsConfig config,
      ProbeKind kind,
      int maxLength,
      int queryBlock,
      ExecutionProvider ep,
      int threads) {
    this(
        StatsInstrumenter.instrument(model, map, config, kind, maxLength, queryBlock, false),
        model,
        ep,
        threads);
  }

  /** A session over an already instrumented graph of {@code model}. */
  public StatsSession(
      InstrumentedModel instrumented, OnnxModel model, ExecutionProvider ep, int threads) {
    this.instrumented = instrumented;
    this.inputs = ModelInputs.of(model.graph());
    this.session = OrtSessionFactory.open(model, instrumented.proto(), ep, threads);
    for (StatOutput s : instrumented.statOutputs()) {
      fetch.add(s.tensor());
      if (s.denominator() != null) {
        fetch.add(s.denominator());
      }
    }
    fetch.addAll(instrumented.countOutputs());
    fetch.addAll(instrumented.importanceOutputs());
  }

  public InstrumentedModel instrumented() {
    return instrumented;
  }

  /** Runs one batch and returns its per-row sums and counts. */
  public BatchStats run(Batch batch) {
    if (batch.kind() != instrumented.kind()) {
      throw new IllegalArgumentException(
          "batch of " + batch.kind() + " on a " + instrumented.kind() + " session");
    }
    if (batch.length() % instrumented.lengthMultiple() != 0) {
      throw new IllegalArgumentException(
          "this instrumented graph takes lengths divisible by "
              + instrumented.lengthMultiple()
              + ", got "
              + batch.length());
    }
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    Map<String, OnnxTensor> feeds = new HashMap<>();
    try {
      feeds.putAll(ModelFeeds.create(env, inputs, batch.ids(), batch.mask()));
      List<String> probeInputs = instrumented.probeInputs();
      for (String name : probeInputs) {
        feeds.put(
            name,
            OnnxTensor.createTensor(
                env, LongBuffer.wrap(probeRow(batch, name)), new long[] {batch.size()}));
      }
      try (OrtSession.Result r = session.run(feeds, fetch)) {
        Map<String, float[][]> sums = new HashMap<>();
        Map<String, float[][]> dens = new HashMap<>();
        Map<String, float[]> counts = new HashMap<>();
        for (StatOutput s : instrumented.statOutputs()) {
          sums.put(s.tensor(), matrix((OnnxTensor) r.get(s.tensor()).orElseThrow()));
          if (s.denominator() != null && !dens.containsKey(s.denominator())) {
            dens.put(s.denominator(), matrix((OnnxTensor) r.get(s.denominator()).orElseThrow()));
          }
        }
        for (String c : instrumented.countOutputs()) {
          counts.put(c, OrtModels.floats((OnnxTensor) r.get(c).orElseThrow()));
        }
        List<float[][]> importance = new ArrayList<>();
        for (String name : instrumented.importanceOutputs()) {
          importance.add(matrix((OnnxTensor) r.get(name).orElseThrow()));
        }
        return new BatchStats(batch, instrumented.statOutputs(), sums, counts, dens, importance);
      }
    } catch (OrtException e) {
      throw new HeadwiseException(
          "ONNX Runtime failed on a batch of "
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

  /** The probe inputs in the order of a batch's probe rows. */
  private static final List<String> PROBE_ROWS =
      List.of(
          InstrumentedModel.REPEAT_START,
          InstrumentedModel.REPEAT_PERIOD,
          InstrumentedModel.REPEAT_COUNT,
          InstrumentedModel.NEEDLE_START,
          InstrumentedModel.NEEDLE_END,
          InstrumentedModel.ANSWER_START,
          InstrumentedModel.ANSWER_END);

  private static long[] probeRow(Batch batch, String name) {
    int row = PROBE_ROWS.indexOf(name);
    if (row < 0) {
      throw new IllegalStateException("unknown probe input " + name);
    }
    return batch.probe()[row];
  }

  private static float[][] matrix(OnnxTensor t) {
    long[] shape = t.getInfo().getShape();
    FloatBuffer fb = t.getFloatBuffer();
    int rows = (int) shape[0];
    int cols = (int) shape[1];
    float[][] m = new float[rows][cols];
    for (int i = 0; i < rows; i++) {
      fb.get(m[i]);
    }
    return m;
  }

  @Override
  public void close() {
    OrtModels.close(session);
  }
}
