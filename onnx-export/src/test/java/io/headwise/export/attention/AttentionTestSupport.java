package io.headwise.export.attention;

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
import io.headwise.schemas.PlanMeta;
import io.headwise.schemas.PlanRow;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.function.BiFunction;

/** Plans built by hand and ONNX Runtime runs shared by the HeadwiseAttention tests. */
final class AttentionTestSupport {
  private AttentionTestSupport() {}

  /** A float output of a run: values and shape. */
  record Output(float[] values, long[] shape) {}

  static PlanMeta meta(OnnxModel model, AttentionMap map, String planId, String method) {
    return new PlanMeta(
        planId,
        model.modelId(),
        "stats-test",
        method,
        0.5,
        List.of(64),
        Map.of(64, 0.5),
        map.numLayers(),
        map.block(0).numHeads(),
        map.block(0).numKvHeads(),
        0L);
  }

  /** One row per (layer, head) of {@code granularity}, made by {@code row(layer, head)}. */
  static List<PlanRow> rows(
      AttentionMap map, String granularity, BiFunction<Integer, Integer, PlanRow> row) {
    List<PlanRow> rows = new ArrayList<>();
    for (int l = 0; l < map.numLayers(); l++) {
      int heads =
          PlanRow.KV_HEAD.equals(granularity) ? map.block(l).numKvHeads() : map.block(l).numHeads();
      for (int h = 0; h < heads; h++) {
        rows.add(row.apply(l, h));
      }
    }
    return rows;
  }

  static PlanRow full(PlanMeta meta, String granularity, int layer, int head) {
    return new PlanRow(
        meta.planId(),
        meta.modelId(),
        meta.statsRunId(),
        meta.method(),
        granularity,
        layer,
        head,
        PlanRow.FULL,
        0,
        0,
        0,
        0,
        "{}");
  }

  static PlanRow streaming(
      PlanMeta meta, String granularity, int layer, int head, int sink, double alpha, double beta) {
    return new PlanRow(
        meta.planId(),
        meta.modelId(),
        meta.statsRunId(),
        meta.method(),
        granularity,
        layer,
        head,
        beta == 0 ? PlanRow.STREAMING : PlanRow.ELASTIC,
        sink,
        alpha,
        beta,
        0,
        "{}");
  }

  /**
   * A streaming/elastic row whose dropped tokens are summarised by RazorAttention's compensation
   * entry.
   */
  static PlanRow compensated(
      PlanMeta meta, String granularity, int layer, int head, int sink, double alpha, double beta) {
    return new PlanRow(
        meta.planId(),
        meta.modelId(),
        meta.statsRunId(),
        meta.method(),
        granularity,
        layer,
        head,
        beta == 0 ? PlanRow.STREAMING : PlanRow.ELASTIC,
        sink,
        alpha,
        beta,
        0,
        "{\"compensation_tokens\":1}");
  }

  static PlanRow budget(
      PlanMeta meta, String granularity, int layer, int head, int budget, int recent) {
    return new PlanRow(
        meta.planId(),
        meta.modelId(),
        meta.statsRunId(),
        meta.method(),
        granularity,
        layer,
        head,
        PlanRow.BUDGET,
        0,
        0,
        0,
        budget,
        "{\"recent_budget_tokens\":" + recent + "}");
  }

  /** The dense plan (every head full) of a model, per kv head. */
  static List<PlanRow> densePlan(PlanMeta meta, AttentionMap map) {
    return rows(map, PlanRow.KV_HEAD, (l, h) -> full(meta, PlanRow.KV_HEAD, l, h));
  }

  /**
   * Runs {@code proto} (weights resolved next to {@code model}) and returns the requested float
   * outputs.
   */
  static Map<String, Output> run(
      OnnxModel model, ModelProto proto, long[][] ids, long[][] mask, Set<String> outputs)
      throws OrtException {
    try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
      options.setIntraOpNumThreads(2);
      try (OrtSession session = OrtModels.session(model, proto, options)) {
        return run(session, ModelInputs.of(proto.getGraph()), ids, mask, outputs);
      }
    }
  }

  /** Runs an open session. */
  static Map<String, Output> run(
      OrtSession session, ModelInputs inputs, long[][] ids, long[][] mask, Set<String> outputs)
      throws OrtException {
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    Map<String, OnnxTensor> feeds = ModelFeeds.create(env, inputs, ids, mask);
    try (OrtSession.Result r = session.run(feeds, outputs)) {
      Map<String, Output> out = new LinkedHashMap<>();
      for (String name : outputs) {
        OnnxTensor t = (OnnxTensor) r.get(name).orElseThrow();
        FloatBuffer fb = t.getFloatBuffer();
        float[] values = new float[fb.remaining()];
        fb.get(values);
        out.put(name, new Output(values, t.getInfo().getShape()));
      }
      return out;
    } finally {
      feeds.values().forEach(OnnxTensor::close);
    }
  }

  /** {@code rows} × {@code length} token ids drawn uniformly from [1, vocab) with {@code seed}. */
  static long[][] randomIds(int rows, int length, int vocab, long seed) {
    Random rnd = new Random(seed);
    long[][] ids = new long[rows][length];
    for (long[] row : ids) {
      for (int t = 0; t < length; t++) {
        row[t] = 1 + rnd.nextInt(vocab - 1);
      }
    }
    return ids;
  }

  /** The largest absolute elementwise difference of two outputs of the same shape. */
  static double maxDiff(Output a, Output b) {
    double max = 0;
    for (int i = 0; i < a.values().length; i++) {
      max = Math.max(max, Math.abs(a.values()[i] - b.values()[i]));
    }
    return max;
  }

  /** All-ones masks for {@code ids}. */
  static long[][] ones(long[][] ids) {
    long[][] mask = new long[ids.length][ids[0].length];
    for (long[] row : mask) {
      Arrays.fill(row, 1);
    }
    return mask;
  }

  /** The first {@code rows} sequences of {@code ids}, cut to {@code length} tokens. */
  static long[][] take(int[][] ids, int rows, int length) {
    long[][] out = new long[rows][length];
    for (int b = 0; b < rows; b++) {
      for (int t = 0; t < length; t++) {
        out[b][t] = ids[b][t];
      }
    }
    return out;
  }
}
