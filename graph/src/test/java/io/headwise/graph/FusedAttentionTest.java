package io.headwise.graph;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import io.headwise.schemas.HeadwiseException;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Fused attention ops expanded into decomposed cores reproduce the fused op in ONNX Runtime. */
class FusedAttentionTest {
  private static final OrtEnvironment ENV = OrtEnvironment.getEnvironment();

  @Test
  void gqaPackedRotaryMatchesOnnxRuntime() throws Exception {
    FusedFixtures f = FusedFixtures.gqa();
    assertExpansionMatches(f.buildGqa(), f, 1e-5);
  }

  @Test
  void gqaLocalWindowSeparateQkvInterleavedPartialRotaryMatchesOnnxRuntime() throws Exception {
    FusedFixtures f = FusedFixtures.gqa();
    f.localWindow = 3;
    f.packedQkv = false;
    f.interleaved = true;
    f.headDim = 32;
    f.rotaryDim = 16;
    assertExpansionMatches(f.buildGqa(), f, 1e-5);
  }

  @Test
  void gqaSoftcapMatchesOnnxRuntime() throws Exception {
    FusedFixtures f = FusedFixtures.gqa();
    f.softcap = 2f;
    assertExpansionMatches(f.buildGqa(), f, 1e-5);
  }

  @Test
  void gqaIsLocatedWithItsHeadsScaleAndCausality() {
    FusedFixtures f = FusedFixtures.gqa();
    AttentionMap map =
        AttentionLocator.locate(OnnxModel.of("gqa", null, null, f.buildGqa(), "sha256:test"));
    assertEquals(f.layers, map.numLayers());
    assertTrue(map.unsupported().isEmpty(), map.unsupported().toString());
    for (AttentionBlock b : map.blocks()) {
      assertEquals(f.heads, b.numHeads());
      assertEquals(f.kvHeads, b.numKvHeads());
      assertEquals(f.headDim, b.headDim());
      assertTrue(b.causal());
      assertEquals(1.0 / Math.sqrt(f.headDim), b.scale(), 1e-7);
      assertTrue(b.softmaxNode().startsWith("hw_fused//model/layers."), b.softmaxNode());
    }
  }

  @Test
  void unsupportedGqaAttributeIsNamed() {
    FusedFixtures f = FusedFixtures.gqa();
    f.extraAttributes.add(GraphBuilder.intAttr("smooth_softmax", 1));
    HeadwiseException e =
        assertThrows(HeadwiseException.class, () -> FunctionInliner.inline(f.buildGqa()));
    assertTrue(e.getMessage().contains("smooth_softmax=1"), e.getMessage());
    assertTrue(e.getMessage().contains("GroupQueryAttention"), e.getMessage());
    FusedFixtures g = FusedFixtures.gqa();
    g.extraAttributes.add(GraphBuilder.intAttr("some_future_flag", 1));
    e = assertThrows(HeadwiseException.class, () -> FunctionInliner.inline(g.buildGqa()));
    assertTrue(e.getMessage().contains("'some_future_flag'"), e.getMessage());
  }

  @Test
  void msAttentionEncoderWithLengthMaskIndexMatchesOnnxRuntime() throws Exception {
    assertOrtLayoutMatches(FusedFixtures.OrtLayout.ATTENTION_ENCODER);
  }

  @Test
  void msAttentionEncoderWithRawMaskMatchesOnnxRuntime() throws Exception {
    assertOrtLayoutMatches(FusedFixtures.OrtLayout.ATTENTION_ENCODER_RAW_MASK);
  }

  @Test
  void msAttentionDecoderWithPastMatchesOnnxRuntime() throws Exception {
    assertOrtLayoutMatches(FusedFixtures.OrtLayout.ATTENTION_DECODER);
  }

  @Test
  void multiHeadAttentionEncoderMatchesOnnxRuntime() throws Exception {
    assertOrtLayoutMatches(FusedFixtures.OrtLayout.MHA_ENCODER);
  }

  @Test
  void ortLayoutsAreLocated() {
    for (FusedFixtures.OrtLayout layout : FusedFixtures.OrtLayout.values()) {
      FusedFixtures f = FusedFixtures.gqa();
      f.heads = 3;
      AttentionMap map =
          AttentionLocator.locate(OnnxModel.of("m", null, null, f.buildOrt(layout), "sha256:t"));
      assertEquals(f.layers, map.numLayers(), layout.name());
      assertTrue(map.unsupported().isEmpty(), map.unsupported().toString());
      for (AttentionBlock b : map.blocks()) {
        assertEquals(3, b.numHeads(), layout.name());
        assertEquals(3, b.numKvHeads(), layout.name());
        assertEquals(f.headDim, b.headDim(), layout.name());
        assertEquals(
            layout == FusedFixtures.OrtLayout.ATTENTION_DECODER, b.causal(), layout.name());
        assertEquals(1.0 / Math.sqrt(f.headDim), b.scale(), 1e-7, layout.name());
      }
    }
  }

  @Test
  void unsupportedMsAttentionAttributeIsNamed() {
    FusedFixtures f = FusedFixtures.gqa();
    f.extraAttributes.add(GraphBuilder.intAttr("do_rotary", 1));
    HeadwiseException e =
        assertThrows(
            HeadwiseException.class,
            () -> FunctionInliner.inline(f.buildOrt(FusedFixtures.OrtLayout.ATTENTION_DECODER)));
    assertTrue(
        e.getMessage().contains("com.microsoft::Attention node 'GptAttention_0'"), e.getMessage());
    assertTrue(e.getMessage().contains("do_rotary=1"), e.getMessage());
  }

  @Test
  void onnxAttention4dWithRotaryEmbeddingMatchesOnnxRuntime() throws Exception {
    FusedFixtures f = FusedFixtures.gqa();
    assertExpansionMatches(f.buildOnnxAttention(false), f, 1e-5);
  }

  @Test
  void onnxAttention3dWithKvNumHeadsMatchesOnnxRuntime() throws Exception {
    FusedFixtures f = FusedFixtures.gqa();
    assertExpansionMatches(f.buildOnnxAttention(true), f, 1e-5);
  }

  @Test
  void onnxAttentionIsLocatedAndSoftcapIsRefused() {
    for (boolean threeD : new boolean[] {false, true}) {
      FusedFixtures f = FusedFixtures.gqa();
      AttentionMap map =
          AttentionLocator.locate(
              OnnxModel.of("a", null, null, f.buildOnnxAttention(threeD), "sha256:a"));
      assertEquals(f.layers, map.numLayers());
      for (AttentionBlock b : map.blocks()) {
        assertEquals(f.heads, b.numHeads());
        assertEquals(f.kvHeads, b.numKvHeads());
        assertTrue(b.causal());
        assertEquals(1.0 / Math.sqrt(f.headDim), b.scale(), 1e-7);
      }
    }
    FusedFixtures f = FusedFixtures.gqa();
    f.extraAttributes.add(GraphBuilder.floatAttr("softcap", 30f));
    HeadwiseException e =
        assertThrows(
            HeadwiseException.class, () -> FunctionInliner.inline(f.buildOnnxAttention(false)));
    assertTrue(
        e.getMessage().contains("ai.onnx::Attention node 'node_scaled_dot_product_attention'")
            && e.getMessage().contains("softcap=30.0"),
        e.getMessage());
  }

  /**
   * Expansion = fused op on a right-padded batch (every position), and for the decoder on one
   * decode step.
   */
  static void assertOrtLayoutMatches(FusedFixtures.OrtLayout layout) throws OrtException {
    FusedFixtures f = FusedFixtures.gqa();
    f.heads = 3;
    ModelProto fused = f.buildOrt(layout);
    ModelProto expanded = FunctionInliner.inline(fused);
    for (NodeProto n : expanded.getGraph().getNodeList()) {
      assertTrue(
          !n.getDomain().equals("com.microsoft") || n.getOpType().equals("Gelu"),
          n.getOpType() + " left");
    }
    int b = 2;
    int t = 9;
    long[][] ids = new long[b][t];
    long[][] mask = new long[b][t];
    Random rnd = new Random(5);
    for (int i = 0; i < b; i++) {
      for (int j = 0; j < t; j++) {
        boolean valid = j < (i == 0 ? t : t - 4);
        ids[i][j] = valid ? 1 + rnd.nextInt(f.vocab - 1) : 0;
        mask[i][j] = valid ? 1 : 0;
      }
    }
    try (OrtSession a = session(fused);
        OrtSession e = unoptimized(expanded)) {
      Map<String, OnnxTensor> feeds =
          ModelFeeds.create(ENV, ModelInputs.of(fused.getGraph()), ids, mask);
      Map<String, float[]> ra = run(a, feeds);
      Map<String, float[]> re = run(e, feeds);
      feeds.values().forEach(OnnxTensor::close);
      compare(ra, re, 1e-5, layout + " prefill");
      if (layout != FusedFixtures.OrtLayout.ATTENTION_DECODER) {
        return;
      }
      Map<String, OnnxTensor> step = new LinkedHashMap<>();
      step.put(
          "input_ids",
          OnnxTensor.createTensor(ENV, LongBuffer.wrap(new long[] {7}), new long[] {1, 1}));
      long[] m = new long[t + 1];
      Arrays.fill(m, 1);
      step.put(
          "attention_mask",
          OnnxTensor.createTensor(ENV, LongBuffer.wrap(m), new long[] {1, t + 1}));
      for (int l = 0; l < f.layers; l++) {
        float[] present = ra.get("present_" + l); // [2, B, H, T, D]: keep batch row 0
        int per = present.length / 2 / b;
        float[] row = new float[2 * per];
        System.arraycopy(present, 0, row, 0, per);
        System.arraycopy(present, b * per, row, per, per);
        step.put(
            "past_" + l,
            OnnxTensor.createTensor(
                ENV, FloatBuffer.wrap(row), new long[] {2, 1, f.heads, t, f.headDim}));
      }
      Map<String, float[]> da = run(a, step);
      Map<String, float[]> de = run(e, step);
      step.values().forEach(OnnxTensor::close);
      compare(da, de, 1e-5, layout + " decode");
    }
  }

  /**
   * The fused model and its expansion give the same logits and present caches on a right-padded
   * batch with an empty past, and on a decode step that feeds the first run's caches back as past.
   */
  static void assertExpansionMatches(ModelProto fused, FusedFixtures f, double tol)
      throws OrtException {
    ModelProto expanded = FunctionInliner.inline(fused);
    for (NodeProto n : expanded.getGraph().getNodeList()) {
      assertTrue(!n.getOpType().endsWith("Attention"), "fused node left in the expansion");
    }
    int b = 2;
    int t = 9;
    long[][] ids = new long[b][t];
    long[][] mask = new long[b][t];
    Random rnd = new Random(3);
    for (int i = 0; i < b; i++) {
      int valid = i == 0 ? t : t - 3;
      for (int j = 0; j < t; j++) {
        ids[i][j] = j < valid ? 1 + rnd.nextInt(f.vocab - 1) : 0;
        mask[i][j] = j < valid ? 1 : 0;
      }
    }
    try (OrtSession a = session(fused);
        OrtSession e = unoptimized(expanded)) {
      Map<String, OnnxTensor> feeds =
          ModelFeeds.create(ENV, ModelInputs.of(fused.getGraph()), ids, mask);
      Map<String, float[]> ra = run(a, feeds);
      Map<String, float[]> re = run(e, feeds);
      feeds.values().forEach(OnnxTensor::close);
      compare(validOnly(ra, mask, f.headDim), validOnly(re, mask, f.headDim), tol, "prefill");
      // one decode step of the unpadded row with the caches of the prefill (batch 1)
      Map<String, OnnxTensor> step = new LinkedHashMap<>();
      step.put(
          "input_ids",
          OnnxTensor.createTensor(ENV, LongBuffer.wrap(new long[] {5}), new long[] {1, 1}));
      long[] m = new long[t + 1];
      Arrays.fill(m, 1);
      step.put(
          "attention_mask",
          OnnxTensor.createTensor(ENV, LongBuffer.wrap(m), new long[] {1, t + 1}));
      if (fused.getGraph().getInputList().stream()
          .anyMatch(v -> v.getName().equals("position_ids"))) {
        step.put(
            "position_ids",
            OnnxTensor.createTensor(ENV, LongBuffer.wrap(new long[] {t}), new long[] {1, 1}));
      }
      for (int l = 0; l < f.layers; l++) {
        for (String kv : new String[] {"key", "value"}) {
          float[] present = ra.get("present." + l + "." + kv);
          int per = present.length / b;
          float[] row = Arrays.copyOf(present, per);
          step.put(
              "past_key_values." + l + "." + kv,
              OnnxTensor.createTensor(
                  ENV, FloatBuffer.wrap(row), new long[] {1, f.kvHeads, t, f.headDim}));
        }
      }
      Map<String, float[]> da = run(a, step);
      Map<String, float[]> de = run(e, step);
      step.values().forEach(OnnxTensor::close);
      compare(da, de, tol, "decode");
    }
  }

  /**
   * Outputs restricted to valid positions ([b, t, …] for logits, [b, h, t, …] for caches): ONNX
   * Runtime leaves the fused op's padded query rows undefined.
   */
  static Map<String, float[]> validOnly(Map<String, float[]> outputs, long[][] mask, int headDim) {
    Map<String, float[]> out = new LinkedHashMap<>();
    int b = mask.length;
    int t = mask[0].length;
    for (Map.Entry<String, float[]> e : outputs.entrySet()) {
      float[] x = e.getValue();
      boolean cache = e.getKey().startsWith("present");
      int perRow = x.length / b;
      float[] kept = new float[x.length];
      int n = 0;
      for (int i = 0; i < b; i++) {
        for (int k = 0; k < perRow; k++) {
          int pos = cache ? (k / headDim) % t : k / (perRow / t);
          if (mask[i][pos] != 0) {
            kept[n++] = x[i * perRow + k];
          }
        }
      }
      out.put(e.getKey(), Arrays.copyOf(kept, n));
    }
    return out;
  }

  private static void compare(
      Map<String, float[]> a, Map<String, float[]> e, double tol, String what) {
    for (Map.Entry<String, float[]> x : a.entrySet()) {
      float[] y = e.get(x.getKey());
      assertNotNull(y, x.getKey());
      assertEquals(x.getValue().length, y.length, x.getKey());
      double worst = 0;
      for (int i = 0; i < y.length; i++) {
        double d = Math.abs(x.getValue()[i] - y[i]);
        worst = Double.isNaN(d) || d > worst ? d : worst;
        if (Double.isNaN(d)) {
          throw new AssertionError(
              what
                  + " "
                  + x.getKey()
                  + "["
                  + i
                  + "]: fused "
                  + x.getValue()[i]
                  + ", expanded "
                  + y[i]);
        }
      }
      if (System.getProperty("fused.debug") != null) {
        int wi = 0;
        for (int i = 0; i < y.length; i++) {
          if (Math.abs(x.getValue()[i] - y[i]) > 1e-4) {
            System.err.println(
                "DEBUG "
                    + what
                    + " "
                    + x.getKey()
                    + " first bad index "
                    + i
                    + " of "
                    + y.length
                    + ": "
                    + x.getValue()[i]
                    + " vs "
                    + y[i]);
            break;
          }
        }
        System.err.println("DEBUG " + what + " " + x.getKey() + " worst " + worst);
        continue;
      }
      assertTrue(worst <= tol, what + " " + x.getKey() + ": max |fused − expanded| = " + worst);
    }
  }

  /**
   * A session that does not run ONNX Runtime's graph fusions, which could fuse an expanded core
   * back into the fused op and make the comparison vacuous.
   */
  static OrtSession unoptimized(ModelProto proto) throws OrtException {
    OrtSession.SessionOptions o = new OrtSession.SessionOptions();
    o.setIntraOpNumThreads(1);
    o.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.NO_OPT);
    return ENV.createSession(proto.toByteArray(), o);
  }

  static OrtSession session(ModelProto proto) throws OrtException {
    OrtSession.SessionOptions o = new OrtSession.SessionOptions();
    o.setIntraOpNumThreads(1);
    return ENV.createSession(proto.toByteArray(), o);
  }

  static Map<String, float[]> run(OrtSession s, Map<String, OnnxTensor> feeds) throws OrtException {
    Map<String, float[]> out = new LinkedHashMap<>();
    try (OrtSession.Result r = s.run(feeds)) {
      for (Map.Entry<String, ai.onnxruntime.OnnxValue> e : r) {
        FloatBuffer fb = ((OnnxTensor) e.getValue()).getFloatBuffer();
        float[] a = new float[fb.remaining()];
        fb.get(a);
        out.put(e.getKey(), a);
      }
    }
    return out;
  }
}
