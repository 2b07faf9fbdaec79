package io.headwise.profilers;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import io.headwise.graph.AttentionMap;
import io.headwise.graph.ModelFeeds;
import io.headwise.graph.ModelInputs;
import io.headwise.graph.OnnxModel;
import io.headwise.graph.OrtModels;
import io.headwise.profilers.eval.OutputComparison;
import io.headwise.schemas.HeadwiseException;
import io.headwise.schemas.StatNames;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Measures how much each kv-head group's KV cache matters to the model's output: for every layer,
 * kv head and window w of the grid (below the bucket length), the model runs with only that group
 * switched to S sinks + w recent keys, and {@code output_kl_s{S}_w{w}} is the mean over valid
 * positions of KL(dense ‖ switched) of the next-token distribution (decoders only). The value is
 * written for each query head of the group. One session (the {@link AblationInstrumenter} graph)
 * serves every switch; runs per batch: layers × kv heads × windows + 1. {@link #profileLayers}
 * switches whole layers instead ({@code layer_output_kl_s{S}_w{w}}, layers × 2 windows + 1 runs).
 */
public final class SensitivityProfiler {
  private static final Map<String, OrtSession> SESSIONS = new ConcurrentHashMap<>();

  private final OnnxModel model;
  private final AttentionMap map;
  private final ExecutionProvider ep;
  private final int threads;
  private final int sinks;
  private final List<Integer> windows;

  public SensitivityProfiler(
      OnnxModel model,
      AttentionMap map,
      ExecutionProvider ep,
      int threads,
      int sinks,
      List<Integer> windows) {
    if (!map.block(0).causal()) {
      throw new HeadwiseException(
          "sensitivity profiling measures next-token distributions and needs a decoder;"
              + " model "
              + model.source()
              + " is bidirectional");
    }
    this.model = model;
    this.map = map;
    this.ep = ep;
    this.threads = threads;
    this.sinks = sinks;
    this.windows = List.copyOf(windows);
  }

  /**
   * The windows measured for a bucket: those of the grid below its length; with an empty grid, {1,
   * 4, 16, 64} plus every eighth of the bucket length, so that plans sized anywhere between short
   * windows and the full length can be costed by interpolation.
   */
  public List<Integer> windowsFor(int bucket) {
    TreeSet<Integer> out = new TreeSet<>(windows);
    if (windows.isEmpty()) {
      out.addAll(List.of(1, 4, 16, 64));
      for (int k = 1; k < 8; k++) {
        out.add(bucket * k / 8);
      }
    }
    return out.stream().filter(w -> w >= 1 && w < bucket).toList();
  }

  /**
   * The windows of the layer-level measurement for a bucket: a quarter and a half of its length,
   * where plans at KV fractions of about 0.25–0.5 put their bands.
   */
  public static List<Integer> layerWindowsFor(int bucket) {
    return new TreeSet<>(List.of(bucket / 4, bucket / 2))
        .stream().filter(w -> w >= 1 && w < bucket).toList();
  }

  /**
   * Measures {@code samples} (padded to {@code bucket}) into an accumulator of output_kl
   * statistics: one run per layer, kv head and window of {@link #windowsFor}.
   */
  public StatsAccumulator profile(int bucket, List<CalibrationSample> samples, int batchSize) {
    return measure(bucket, samples, batchSize, false);
  }

  /**
   * Measures {@code layer_output_kl_s{S}_w{w}}: every head of a layer switched at once, at the
   * windows of {@link #layerWindowsFor} — one run per layer and window, a few runs per batch where
   * {@link #profile} makes one per kv head and window. Planners read it as the per-layer factor
   * that a local statistic such as stream deviation cannot carry (how much the rest of the model
   * amplifies an error of this layer's attention).
   */
  public StatsAccumulator profileLayers(
      int bucket, List<CalibrationSample> samples, int batchSize) {
    return measure(bucket, samples, batchSize, true);
  }

  private StatsAccumulator measure(
      int bucket, List<CalibrationSample> samples, int batchSize, boolean wholeLayers) {
    OrtSession session =
        SESSIONS.computeIfAbsent(
            model.modelId() + "|" + ep + "|" + threads,
            k -> {
              ModelProto proto =
                  AblationInstrumenter.instrument(model, map, AttentionTiling.GRAPH_BLOCK);
              return OrtSessionFactory.open(model, proto, ep, threads);
            });
    String output = session.getOutputNames().iterator().next();
    ModelInputs inputs = ModelInputs.of(model.graph());
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    StatsAccumulator acc = new StatsAccumulator();
    List<Integer> ws = wholeLayers ? layerWindowsFor(bucket) : windowsFor(bucket);
    List<CalibrationSample> plain = new ArrayList<>();
    for (CalibrationSample s : samples) {
      plain.add(CalibrationSample.of(s.sampleId(), s.inputIds(), s.attentionMask(), s.source()));
    }
    for (int i = 0; i < plain.size(); i += Math.max(1, batchSize)) {
      Batch batch =
          Batch.pad(
              ProbeKind.PLAIN, plain.subList(i, Math.min(plain.size(), i + batchSize)), bucket);
      Map<String, OnnxTensor> feeds = new HashMap<>();
      try {
        feeds.putAll(ModelFeeds.create(env, inputs, batch.ids(), batch.mask()));
        double[][] dense = logSoftmax(run(session, env, feeds, output, -1, 0, 0), batch);
        double positions = 0;
        for (long[] m : batch.mask()) {
          for (long x : m) {
            positions += x != 0 ? 1 : 0;
          }
        }
        for (int layer = 0; layer < map.numLayers(); layer++) {
          int heads = map.block(layer).numHeads();
          for (int w : ws) {
            double[] sums = new double[heads];
            if (wholeLayers) {
              Arrays.fill(
                  sums,
                  klSum(dense, logSoftmax(run(session, env, feeds, output, layer, -1, w), batch)));
              acc.add(bucket, layer, StatNames.layerOutputKl(sinks, w), sums, positions, null);
              continue;
            }
            for (int kv = 0; kv < map.block(layer).numKvHeads(); kv++) {
              double kl =
                  klSum(dense, logSoftmax(run(session, env, feeds, output, layer, kv, w), batch));
              for (int h = 0; h < heads; h++) {
                if (map.block(layer).kvHeadOf(h) == kv) {
                  sums[h] = kl;
                }
              }
            }
            acc.add(bucket, layer, StatNames.outputKl(sinks, w), sums, positions, null);
          }
        }
      } catch (OrtException e) {
        throw new HeadwiseException(
            "ONNX Runtime failed while measuring head sensitivity: " + e.getMessage(), e);
      } finally {
        feeds.values().forEach(OnnxTensor::close);
      }
    }
    return acc;
  }

  private float[] run(
      OrtSession session,
      OrtEnvironment env,
      Map<String, OnnxTensor> feeds,
      String output,
      long layer,
      long kv,
      long window)
      throws OrtException {
    Map<String, OnnxTensor> all = new HashMap<>(feeds);
    List<OnnxTensor> scalars = new ArrayList<>();
    try {
      Map<String, Long> ablation =
          Map.of(
              AblationInstrumenter.LAYER, layer,
              AblationInstrumenter.KV_HEAD, kv,
              AblationInstrumenter.WINDOW, window,
              AblationInstrumenter.SINKS, (long) sinks);
      for (Map.Entry<String, Long> in : ablation.entrySet()) {
        OnnxTensor t = OnnxTensor.createTensor(env, (long) in.getValue());
        scalars.add(t);
        all.put(in.getKey(), t);
      }
      try (OrtSession.Result r = session.run(all, Set.of(output))) {
        return OrtModels.floats((OnnxTensor) r.get(0));
      }
    } finally {
      scalars.forEach(OnnxTensor::close);
    }
  }

  /** Log-softmax rows [B·T][V] of the valid positions (null for padded ones). */
  private static double[][] logSoftmax(float[] logits, Batch batch) {
    int b = batch.size();
    int t = batch.length();
    int v = logits.length / (b * t);
    double[][] out = new double[b * t][];
    for (int row = 0; row < b; row++) {
      for (int i = 0; i < t; i++) {
        if (batch.mask()[row][i] == 0) {
          continue;
        }
        double[] r = new double[v];
        OutputComparison.logSoftmax(logits, (row * t + i) * v, v, r);
        out[row * t + i] = r;
      }
    }
    return out;
  }

  private static double klSum(double[][] p, double[][] q) {
    double s = 0;
    for (int i = 0; i < p.length; i++) {
      if (p[i] == null) {
        continue;
      }
      double kl = 0;
      for (int k = 0; k < p[i].length; k++) {
        kl += Math.exp(p[i][k]) * (p[i][k] - q[i][k]);
      }
      s += Math.max(0, kl);
    }
    return s;
  }
}
