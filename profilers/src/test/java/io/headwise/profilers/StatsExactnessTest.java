package io.headwise.profilers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import io.headwise.graph.AttentionBlock;
import io.headwise.graph.AttentionLocator;
import io.headwise.graph.AttentionMap;
import io.headwise.graph.AttentionProbe;
import io.headwise.graph.ElementType;
import io.headwise.graph.FunctionInliner;
import io.headwise.graph.ModelFeeds;
import io.headwise.graph.ModelInputs;
import io.headwise.graph.OnnxModel;
import io.headwise.graph.OrtModels;
import io.headwise.graph.TestModels;
import io.headwise.schemas.HeadStat;
import io.headwise.schemas.StatNames;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * Every in-graph statistic equals a direct computation from the exposed softmax outputs within
 * 1e-4, on the real stories260k decoder (its calibration ids, repeat and passkey probes) and on
 * MiniLM with a padded batch. A float16 or bfloat16 layer through the tiled core (which computes it
 * in float32) is held to 1e-3 against the model's own probabilities instead: the bar for
 * those types, which allows their rounding of the scores and probabilities.
 */
class StatsExactnessTest {
  private static final double TOLERANCE = 1e-4;
  private static final double HALF_PRECISION_TILED_TOLERANCE = 1e-3;

  @Test
  void stories260kCalibrationIds() {
    OnnxModel model = OnnxModel.load(TestModels.stories260k());
    int checked = check(model, StatsConfig.defaults(), List.of(stories260kCalibration()));
    assertTrue(checked > 5 * 8 * 20, "checked " + checked);
  }

  /** The stories260k calibration ids as one batch padded to 256. */
  static Batch stories260kCalibration() {
    int[][] ids = IdArrays.read(TestModels.stories260kCalibration(), "calib");
    List<CalibrationSample> samples = new ArrayList<>();
    for (int i = 0; i < ids.length; i++) {
      samples.add(CalibrationSample.of("s" + i, ids[i], null, CalibrationSample.SOURCE_IDS));
    }
    return Batch.pad(ProbeKind.PLAIN, samples, 256);
  }

  @Test
  void stories260kRepeatAndPasskeyProbesWithPadding() {
    OnnxModel model = OnnxModel.load(TestModels.stories260k());
    check(model, StatsConfig.defaults(), probeBatches());
  }

  /** Repeat probes padded to 64 and passkey probes padded to 72. */
  static List<Batch> probeBatches() {
    Random rnd = new Random(3);
    List<CalibrationSample> repeats = new ArrayList<>();
    for (int r = 0; r < 3; r++) {
      int period = 10 + 5 * r;
      int count = 3;
      int[] seg = rnd.ints(period, 5, 500).toArray();
      int[] seq = new int[1 + period * count];
      seq[0] = 1;
      for (int k = 0; k < count; k++) {
        System.arraycopy(seg, 0, seq, 1 + k * period, period);
      }
      repeats.add(
          new CalibrationSample(
              "r" + r,
              seq,
              null,
              CalibrationSample.SOURCE_REPEAT,
              1,
              period,
              count,
              -1,
              -1,
              -1,
              -1));
    }
    List<CalibrationSample> passkeys = new ArrayList<>();
    for (int r = 0; r < 2; r++) {
      int[] seq = rnd.ints(60 + 10 * r, 5, 500).toArray();
      seq[0] = 1;
      System.arraycopy(seq, 20, seq, 50, 5); // answer region repeats the needle's prefix
      passkeys.add(
          new CalibrationSample(
              "p" + r,
              seq,
              null,
              CalibrationSample.SOURCE_PASSKEY,
              -1,
              -1,
              -1,
              20,
              28,
              50,
              58 + r));
    }
    return List.of(
        Batch.pad(ProbeKind.REPEAT, repeats, 64), Batch.pad(ProbeKind.PASSKEY, passkeys, 72));
  }

  @Test
  void miniLmPaddedBatch() {
    check(OnnxModel.load("default"), MINI_LM_CONFIG, List.of(miniLmBatch()));
  }

  static final StatsConfig MINI_LM_CONFIG =
      new StatsConfig(
          List.of(1, 4), List.of(1, 4, 16, 64), List.of(4), List.of(1, 10, 20), true, true);

  /** MiniLM samples of lengths 40, 23, 9, a left-padded row and a row with a hole, padded to 40. */
  static Batch miniLmBatch() {
    Random rnd = new Random(5);
    List<CalibrationSample> samples = new ArrayList<>();
    int[] lengths = {40, 23, 9};
    for (int i = 0; i < lengths.length; i++) {
      int[] seq = rnd.ints(lengths[i], 1000, 20000).toArray();
      seq[0] = 101;
      seq[lengths[i] - 1] = 102;
      samples.add(CalibrationSample.of("m" + i, seq, null, CalibrationSample.SOURCE_IDS));
    }
    // a left-padded row and a row with a hole in its mask
    int[] left = rnd.ints(30, 1000, 20000).toArray();
    int[] leftMask = new int[30];
    for (int j = 6; j < 30; j++) {
      leftMask[j] = 1;
    }
    samples.add(CalibrationSample.of("left", left, leftMask, CalibrationSample.SOURCE_IDS));
    int[] holed = rnd.ints(35, 1000, 20000).toArray();
    int[] holedMask = new int[35];
    Arrays.fill(holedMask, 1);
    holedMask[10] = 0;
    holedMask[11] = 0;
    samples.add(CalibrationSample.of("hole", holed, holedMask, CalibrationSample.SOURCE_IDS));
    return Batch.pad(ProbeKind.PLAIN, samples, 40);
  }

  /**
   * Runs both routes on the batches and compares every statistic; returns the number of values
   * compared.
   */
  static int check(OnnxModel model, StatsConfig config, List<Batch> batches) {
    return check(model, config, batches, 0);
  }

  /**
   * As {@link #check(OnnxModel, StatsConfig, List)} with the query-tiled core at {@code queryBlock}
   * rows.
   */
  static int check(OnnxModel model, StatsConfig config, List<Batch> batches, int queryBlock) {
    return check(model, config, batches, queryBlock, true);
  }

  /**
   * With {@code allTileable}, asserts that every layer of float32 attention with a readable scale
   * passes the score-path check and is tiled; otherwise that none is (a model whose mask the tiled
   * core does not rebuild).
   */
  static int check(
      OnnxModel model,
      StatsConfig config,
      List<Batch> batches,
      int queryBlock,
      boolean allTileable) {
    AttentionMap map = AttentionLocator.locate(model);
    Set<Integer> halfPrecisionTiled = new HashSet<>();
    int maxLen = batches.stream().mapToInt(Batch::length).max().orElseThrow();
    List<Integer> windows = config.windowsFor(maxLen);
    ReferenceStats ref = new ReferenceStats(config, windows, map.block(0).causal());
    StatsAccumulator acc = new StatsAccumulator();
    for (Batch batch : batches) {
      try (StatsSession s =
          new StatsSession(
              model, map, config, batch.kind(), maxLen, queryBlock, ExecutionProvider.CPU, 2)) {
        if (queryBlock > 0 && queryBlock < maxLen) {
          List<Integer> tileable =
              allTileable
                  ? map.blocks().stream()
                      .filter(b -> TiledCore.reasonNotTiled(b) == null)
                      .map(AttentionBlock::layer)
                      .toList()
                  : List.of();
          assertEquals(tileable, s.instrumented().tiledLayers(), "tiled layers");
          assertEquals(tileable.isEmpty() ? 0 : queryBlock, s.instrumented().queryBlock());
          for (int l : s.instrumented().tiledLayers()) {
            if (map.block(l).probabilitiesType() != ElementType.FLOAT) {
              halfPrecisionTiled.add(l);
            }
          }
        }
        acc.add(maxLen, s.run(batch));
      }
      exposeAndReduce(model, map, batch, ref);
    }
    List<HeadStat> rows = acc.toHeadStats(model.modelId(), "test", map);
    assertFalse(rows.isEmpty());
    int compared = 0;
    double halfPrecisionMax = 0;
    for (HeadStat r : rows) {
      double expected = ref.value(r.layer(), r.stat(), r.head());
      assertFalse(Double.isNaN(expected), "reference lacks " + r.stat());
      boolean half = halfPrecisionTiled.contains(r.layer());
      // every statistic is a share or a ratio of order 1 except head_output_energy, a mean
      // squared norm in the model's own units: it is held to the same tolerance relative to its
      // size
      double scale =
          r.stat().equals(StatNames.HEAD_OUTPUT_ENERGY) ? Math.max(1.0, Math.abs(expected)) : 1.0;
      if (half) {
        halfPrecisionMax = Math.max(halfPrecisionMax, Math.abs(expected - r.value()) / scale);
      }
      assertEquals(
          expected,
          r.value(),
          scale * (half ? HALF_PRECISION_TILED_TOLERANCE : TOLERANCE),
          () -> "layer " + r.layer() + " head " + r.head() + " " + r.stat());
      compared++;
    }
    if (!halfPrecisionTiled.isEmpty()) {
      System.out.printf(
          "%s: float16/bfloat16 layers %s tiled at %d rows, largest |difference| %.3g%n",
          model.source(), halfPrecisionTiled, queryBlock, halfPrecisionMax);
    }
    // every reference statistic is produced by the graph too
    Set<String> produced = new HashSet<>();
    rows.forEach(r -> produced.add(r.layer() + "|" + r.stat()));
    for (String k : ref.keys()) {
      assertTrue(produced.contains(k), "graph did not produce " + k);
    }
    return compared;
  }

  private static void exposeAndReduce(
      OnnxModel model, AttentionMap map, Batch batch, ReferenceStats ref) {
    LinkedHashSet<String> tensors = new LinkedHashSet<>();
    for (AttentionBlock b : map.blocks()) {
      tensors.add(b.probabilitiesTensor());
      tensors.add(b.valueTensor());
    }
    Map<String, String> names = new HashMap<>();
    ModelProto exposed =
        AttentionProbe.exposeAsFloat(
            FunctionInliner.inline(model.proto()),
            tensors,
            names); // inlined: fused attention ops are expanded there
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    try (OrtSession.SessionOptions o = new OrtSession.SessionOptions();
        OrtSession session = OrtModels.session(model, exposed, o)) {
      Map<String, OnnxTensor> feeds =
          ModelFeeds.create(env, ModelInputs.of(model.graph()), batch.ids(), batch.mask());
      try (OrtSession.Result r = session.run(feeds, new LinkedHashSet<>(names.values()))) {
        for (AttentionBlock b : map.blocks()) {
          OnnxTensor p = (OnnxTensor) r.get(names.get(b.probabilitiesTensor())).orElseThrow();
          OnnxTensor v = (OnnxTensor) r.get(names.get(b.valueTensor())).orElseThrow();
          long[] vs = v.getInfo().getShape();
          ref.add(b.layer(), floats(p), floats(v), b.numHeads(), (int) vs[1], (int) vs[3], batch);
        }
      } finally {
        feeds.values().forEach(OnnxTensor::close);
      }
    } catch (ai.onnxruntime.OrtException e) {
      throw new IllegalStateException(e);
    }
  }

  private static float[] floats(OnnxTensor t) {
    FloatBuffer fb = t.getFloatBuffer();
    float[] a = new float[fb.remaining()];
    fb.get(a);
    return a;
  }
}
