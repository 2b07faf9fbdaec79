package io.headwise.profilers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import io.headwise.graph.AttentionLocator;
import io.headwise.graph.AttentionMap;
import io.headwise.graph.ModelFeeds;
import io.headwise.graph.ModelInputs;
import io.headwise.graph.OnnxModel;
import io.headwise.graph.OrtModels;
import io.headwise.graph.TestModels;
import java.nio.FloatBuffer;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The model rewritten with the query-tiled core and no statistics computes the model's own outputs
 * at every valid position (padded rows and heads of padding queries are not compared):
 * stories260k's logits and MiniLM's hidden states on padded batches (right, left, a hole), at
 * blocks that do not divide the length.
 */
class TiledModelTest {
  @Test
  void stories260kLogits() {
    compare(OnnxModel.load(TestModels.stories260k()), 500, 37, 5);
  }

  @Test
  void miniLmHiddenStates() {
    compare(OnnxModel.load("default"), 20000, 29, 6);
  }

  /**
   * Profiling's tiled graph drops the model's own outputs and what only they read (the last layer's
   * MLP and head); {@code bench scale} asks to keep them, so its routes do a full forward pass.
   */
  @Test
  void tiledStatisticsGraphKeepsTheModelOutputsOnlyWhenAsked() {
    OnnxModel model = OnnxModel.load(TestModels.stories260k());
    AttentionMap map = AttentionLocator.locate(model);
    String logits = model.graph().getOutput(0).getName();
    int[] nodes = new int[2];
    for (int keep = 0; keep < 2; keep++) {
      InstrumentedModel m =
          StatsInstrumenter.instrument(
              model, map, StatsConfig.defaults(), ProbeKind.PLAIN, 64, 16, keep == 1);
      assertEquals(map.numLayers(), m.tiledLayers().size());
      assertEquals(
          keep == 1,
          m.proto().getGraph().getOutputList().stream().anyMatch(o -> o.getName().equals(logits)));
      nodes[keep] = m.proto().getGraph().getNodeCount();
    }
    assertTrue(
        nodes[1] > nodes[0],
        "nodes without / with the model's outputs: " + nodes[0] + ", " + nodes[1]);
  }

  private static void compare(OnnxModel model, int vocab, int length, int block) {
    AttentionMap map = AttentionLocator.locate(model);
    TiledModel.Result tiled = TiledModel.rewrite(model, model.proto(), map, block, false);
    assertEquals(map.numLayers(), tiled.tiledLayers().size());
    assertFalse(
        tiled.proto().getGraph().getNodeList().stream()
            .anyMatch(n -> n.getOpType().equals("Softmax")));
    Random rnd = new Random(7);
    long[][] ids = new long[3][length];
    long[][] mask = new long[3][length];
    for (int b = 0; b < 3; b++) {
      for (int j = 0; j < length; j++) {
        ids[b][j] = 1 + rnd.nextInt(vocab - 1);
        boolean pad = b == 0 && j >= length - 9 || b == 1 && j < 4 || b == 2 && j == length / 2;
        mask[b][j] = pad ? 0 : 1;
      }
    }
    String output = model.graph().getOutput(0).getName();
    float[] expected = run(model, model.proto(), output, ids, mask);
    float[] actual = run(model, tiled.proto(), output, ids, mask);
    assertEquals(expected.length, actual.length);
    int per = expected.length / (3 * length);
    int compared = 0;
    for (int b = 0; b < 3; b++) {
      for (int j = 0; j < length; j++) {
        if (mask[b][j] == 0) {
          continue;
        }
        for (int k = 0; k < per; k++) {
          int i = (b * length + j) * per + k;
          assertEquals(
              expected[i],
              actual[i],
              1e-4 * Math.max(1, Math.abs(expected[i])),
              "row " + b + " pos " + j);
          compared++;
        }
      }
    }
    assertTrue(compared > 50 * per, "compared " + compared);
  }

  private static float[] run(
      OnnxModel model, ModelProto proto, String output, long[][] ids, long[][] mask) {
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    try (OrtSession.SessionOptions o = new OrtSession.SessionOptions();
        OrtSession session = OrtModels.session(model, proto, o)) {
      Map<String, OnnxTensor> feeds =
          ModelFeeds.create(env, ModelInputs.of(model.graph()), ids, mask);
      try (OrtSession.Result r = session.run(feeds, Set.of(output))) {
        FloatBuffer fb = ((OnnxTensor) r.get(output).orElseThrow()).getFloatBuffer();
        float[] a = new float[fb.remaining()];
        fb.get(a);
        return a;
      } finally {
        feeds.values().forEach(OnnxTensor::close);
      }
    } catch (OrtException e) {
      throw new IllegalStateException(e);
    }
  }
}
