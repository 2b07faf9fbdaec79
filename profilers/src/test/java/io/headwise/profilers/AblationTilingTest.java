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
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The sensitivity ablation graph with its attention through the query-tiled core (blocks of 6 rows
 * on 40 tokens) gives the logits of the untiled ablation graph at every valid position, dense and
 * with one kv-head group or a whole layer switched to sinks + window, on a padded batch.
 */
class AblationTilingTest {
  @Test
  void stories260kSwitchedGroupsMatchTheUntiledGraph() {
    OnnxModel model = OnnxModel.load(TestModels.stories260k());
    AttentionMap map = AttentionLocator.locate(model);
    ModelProto untiled = AblationInstrumenter.instrument(model, map, 0);
    ModelProto tiled = AblationInstrumenter.instrument(model, map, 6);
    assertFalse(
        tiled.getGraph().getNodeList().stream().anyMatch(n -> n.getOpType().equals("Softmax")));
    int t = 40;
    Random rnd = new Random(9);
    long[][] ids = new long[2][t];
    long[][] mask = new long[2][t];
    for (int b = 0; b < 2; b++) {
      for (int j = 0; j < t; j++) {
        ids[b][j] = 1 + rnd.nextInt(499);
        mask[b][j] = b == 1 && (j < 3 || j == 20) ? 0 : 1;
      }
    }
    String logits = model.graph().getOutput(0).getName();
    // (layer, kv head, window, sinks); kv head -1 switches every head of the layer
    long[][] settings = {{-1, 0, 1, 0}, {0, 1, 4, 1}, {2, 3, 8, 4}, {4, 0, 1, 0}, {1, -1, 8, 4}};
    float[] dense = run(model, tiled, logits, ids, mask, settings[0]);
    for (long[] s : settings) {
      float[] expected = run(model, untiled, logits, ids, mask, s);
      float[] actual = run(model, tiled, logits, ids, mask, s);
      if (s[0] >= 0) {
        double change = 0;
        for (int i = 0; i < dense.length; i++) {
          change = Math.max(change, Math.abs(actual[i] - dense[i]));
        }
        assertTrue(
            change > 1e-3, "switching " + Arrays.toString(s) + " changes the logits: " + change);
      }
      int per = expected.length / (2 * t);
      int compared = 0;
      for (int b = 0; b < 2; b++) {
        for (int j = 0; j < t; j++) {
          if (mask[b][j] == 0) {
            continue;
          }
          for (int k = 0; k < per; k++) {
            int i = (b * t + j) * per + k;
            assertEquals(
                expected[i],
                actual[i],
                1e-4 * Math.max(1, Math.abs(expected[i])),
                "setting " + Arrays.toString(s) + " row " + b + " pos " + j);
            compared++;
          }
        }
      }
      assertTrue(compared > 70 * per);
    }
  }

  private static float[] run(
      OnnxModel model,
      ModelProto proto,
      String output,
      long[][] ids,
      long[][] mask,
      long[] setting) {
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    try (OrtSession.SessionOptions o = new OrtSession.SessionOptions();
        OrtSession session = OrtModels.session(model, proto, o)) {
      Map<String, OnnxTensor> feeds =
          new HashMap<>(ModelFeeds.create(env, ModelInputs.of(model.graph()), ids, mask));
      String[] names = {
        AblationInstrumenter.LAYER,
        AblationInstrumenter.KV_HEAD,
        AblationInstrumenter.WINDOW,
        AblationInstrumenter.SINKS
      };
      for (int i = 0; i < names.length; i++) {
        feeds.put(names[i], OnnxTensor.createTensor(env, setting[i]));
      }
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
