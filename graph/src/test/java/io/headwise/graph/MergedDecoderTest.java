package io.headwise.graph;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import io.headwise.schemas.HeadwiseException;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A merged decoder (Optimum's {@code decoder_model_merged.onnx} layout, built from stories260k's
 * decoder with past) loads as its no-cache branch and gives its cache branch on request; each view
 * computes what the merged file computes with {@code use_cache_branch} false or true.
 */
class MergedDecoderTest {
  private static final Path PAST = TestModels.stories260k().resolveSibling("stories260k_past.onnx");

  @TempDir Path tmp;

  @Test
  void eachViewComputesWhatTheMergedFileComputesOnItsBranch() throws Exception {
    Path merged = MergedDecoders.write(PAST, tmp.resolve("decoder_model_merged.onnx"));
    OnnxModel noCache = OnnxModel.load(merged);
    assertTrue(noCache.isMergedNoCacheView());
    List<String> inputs =
        noCache.graph().getInputList().stream().map(ValueInfoProto::getName).toList();
    assertEquals(List.of("input_ids", "attention_mask", "position_ids"), inputs);
    assertFalse(
        noCache.graph().getNodeList().stream().anyMatch(n -> n.getOpType().equals("If")),
        "the If is inlined");
    OnnxModel cache = noCache.cacheBranch();
    assertEquals(noCache.modelId(), cache.modelId(), "one file, one model id");
    assertTrue(
        cache.graph().getInputList().stream()
            .anyMatch(v -> v.getName().startsWith("past_key_values")));
    OnnxModel plainPast = OnnxModel.load(PAST);
    AttentionMap expected = AttentionLocator.locate(plainPast);
    for (OnnxModel view : List.of(noCache, cache)) {
      AttentionMap map = AttentionLocator.locate(view);
      assertEquals(expected.numLayers(), map.numLayers());
      assertEquals(expected.block(0).numHeads(), map.block(0).numHeads());
      assertEquals(expected.block(0).numKvHeads(), map.block(0).numKvHeads());
    }

    OrtEnvironment env = OrtEnvironment.getEnvironment();
    long[] ids = {1, 403, 259, 103, 16, 279, 300, 12};
    int kvHeads = expected.block(0).numKvHeads();
    int headDim = expected.block(0).headDim();
    try (OrtSession.SessionOptions o = new OrtSession.SessionOptions();
        OrtSession file = env.createSession(merged.toString(), o);
        OrtSession prefill = OrtModels.session(noCache, noCache.proto(), o);
        OrtSession step = OrtModels.session(cache, cache.proto(), o)) {
      Map<String, float[]> whole =
          run(file, feeds(env, plainPast, ids, 0, kvHeads, headDim, null, false));
      Map<String, float[]> viewed =
          run(prefill, feeds(env, noCache, ids, 0, kvHeads, headDim, null, null));
      assertEquals(whole.keySet(), viewed.keySet());
      for (String k : whole.keySet()) {
        assertEquals(0.0, maxDiff(whole.get(k), viewed.get(k)), 1e-6, k);
      }
      // one more token through the cache: the file's then-branch against the cache view
      long[] next = {42};
      Map<String, float[]> fileStep =
          run(file, feeds(env, plainPast, next, ids.length, kvHeads, headDim, whole, true));
      Map<String, float[]> viewStep =
          run(step, feeds(env, cache, next, ids.length, kvHeads, headDim, whole, null));
      for (String k : fileStep.keySet()) {
        assertEquals(0.0, maxDiff(fileStep.get(k), viewStep.get(k)), 1e-6, k);
      }
      assertTrue(maxDiff(fileStep.get("logits"), new float[fileStep.get("logits").length]) > 0.1);
    }
  }

  @Test
  void branchesThatDisagreeOnAttentionAreRefused() throws Exception {
    Path merged =
        MergedDecoders.write(
            PAST,
            tmp.resolve("disagree.onnx"),
            g -> {
              GraphProto.Builder b = g.toBuilder();
              for (int i = 0; i < b.getNodeCount(); i++) {
                if (b.getNode(i).getOpType().equals("Softmax")) {
                  NodeProto n = b.getNode(i);
                  b.setNode(
                      i,
                      NodeProto.newBuilder()
                          .setOpType("Identity")
                          .setName(n.getName())
                          .addInput(n.getInput(0))
                          .addOutput(n.getOutput(0)));
                  break;
                }
              }
              return b.build();
            });
    HeadwiseException e = assertThrows(HeadwiseException.class, () -> OnnxModel.load(merged));
    assertTrue(e.getMessage().contains("disagree on attention structure"), e.getMessage());
    assertTrue(e.getMessage().contains("use_cache_branch"), e.getMessage());
  }

  private static Map<String, OnnxTensor> feeds(
      OrtEnvironment env,
      OnnxModel m,
      long[] ids,
      int pastLength,
      int kvHeads,
      int headDim,
      Map<String, float[]> presents,
      Boolean useCache)
      throws Exception {
    Map<String, OnnxTensor> f = new HashMap<>();
    int total = pastLength + ids.length;
    long[] mask = new long[total];
    java.util.Arrays.fill(mask, 1);
    long[] positions = new long[ids.length];
    for (int i = 0; i < ids.length; i++) {
      positions[i] = pastLength + i;
    }
    for (ValueInfoProto in : m.graph().getInputList()) {
      String n = in.getName();
      if (n.equals("input_ids")) {
        f.put(n, OnnxTensor.createTensor(env, LongBuffer.wrap(ids), new long[] {1, ids.length}));
      } else if (n.equals("attention_mask")) {
        f.put(n, OnnxTensor.createTensor(env, LongBuffer.wrap(mask), new long[] {1, total}));
      } else if (n.equals("position_ids")) {
        f.put(
            n,
            OnnxTensor.createTensor(env, LongBuffer.wrap(positions), new long[] {1, ids.length}));
      } else if (n.startsWith("past_key_values")) {
        float[] values =
            presents == null ? new float[0] : presents.get(n.replace("past_key_values", "present"));
        f.put(
            n,
            OnnxTensor.createTensor(
                env, FloatBuffer.wrap(values), new long[] {1, kvHeads, pastLength, headDim}));
      }
    }
    if (useCache != null) {
      f.put(MergedDecoders.CONDITION, OnnxTensor.createTensor(env, new boolean[] {useCache}));
    }
    return f;
  }

  private static Map<String, float[]> run(OrtSession s, Map<String, OnnxTensor> feeds)
      throws Exception {
    Map<String, float[]> out = new HashMap<>();
    try (OrtSession.Result r = s.run(feeds)) {
      for (Map.Entry<String, OnnxValue> e : r) {
        FloatBuffer b = ((OnnxTensor) e.getValue()).getFloatBuffer();
        float[] v = new float[b.remaining()];
        b.get(v);
        out.put(e.getKey(), v);
      }
    } finally {
      feeds.values().forEach(OnnxTensor::close);
    }
    return out;
  }

  private static double maxDiff(float[] a, float[] b) {
    assertEquals(a.length, b.length);
    double d = 0;
    for (int i = 0; i < a.length; i++) {
      d = Math.max(d, Math.abs(a[i] - b[i]));
    }
    return d;
  }
}
