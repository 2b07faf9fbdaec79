package io.headwise.graph.synth;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import io.headwise.graph.AttentionBlock;
import io.headwise.graph.AttentionLocator;
import io.headwise.graph.AttentionMap;
import io.headwise.graph.OnnxModel;
import io.headwise.graph.OrtModels;
import io.headwise.schemas.HeadwiseException;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The synthetic Llama generator: located like a real TorchScript export, weights all external,
 * deterministic per seed, a causal decoder whose padded and cached forms agree with the plain
 * forward.
 */
class SyntheticLlamaTest {
  @TempDir Path tmp;

  private static final OrtEnvironment ENV = OrtEnvironment.getEnvironment();

  @Test
  void tinyIsLocatedAsACausalGqaDecoderWithAllWeightsExternal() throws Exception {
    SynthSpec spec = new SynthSpec(SynthShape.TINY, 3, 97, SynthDtype.FLOAT32, false, 7);
    SyntheticLlama.Written w = SyntheticLlama.write(spec, tmp.resolve("tiny.onnx"));
    assertEquals(tmp.resolve("tiny.onnx.data"), w.data());
    OnnxModel model = OnnxModel.load(w.model());
    AttentionMap map = AttentionLocator.locate(model);
    assertEquals(3, map.numLayers());
    assertTrue(map.unsupported().isEmpty());
    for (AttentionBlock b : map.blocks()) {
      assertEquals(4, b.numHeads());
      assertEquals(2, b.numKvHeads());
      assertEquals(16, b.headDim());
      assertTrue(b.causal());
      assertEquals(0.25, b.scale(), 1e-6);
      assertEquals("mul", b.scaleForm());
    }
    // every weight matrix lives in the data file; the data file holds exactly the parameters
    long external = 0;
    for (TensorProto t : model.graph().getInitializerList()) {
      long numel = t.getDimsList().stream().mapToLong(Long::longValue).reduce(1, (x, y) -> x * y);
      if (t.getDataLocation() == TensorProto.DataLocation.EXTERNAL) {
        assertFalse(t.hasRawData(), t.getName());
        external += numel;
      } else {
        assertTrue(numel <= 8, "only small constants stay inline: " + t.getName());
      }
    }
    assertEquals(spec.parameters(), external);
    assertEquals(spec.parameters() * 4, Files.size(w.data()));
    assertTrue(Files.size(w.model()) < 64 * 1024, "the .onnx file holds only the graph");
    assertEquals(
        List.of("input_ids", "attention_mask"),
        model.graph().getInputList().stream().map(i -> i.getName()).toList());
    // no temporary files left behind
    try (var files = Files.list(tmp)) {
      assertEquals(2, files.count());
    }
  }

  @Test
  void sameSeedSameBytesOtherSeedOtherWeights() throws Exception {
    SynthSpec a = new SynthSpec(SynthShape.TINY, 1, 50, SynthDtype.FLOAT32, false, 1);
    Path d1 = SyntheticLlama.write(a, tmp.resolve("a.onnx")).data();
    Path d2 = SyntheticLlama.write(a, tmp.resolve("b.onnx")).data();
    Path d3 =
        SyntheticLlama.write(
                new SynthSpec(SynthShape.TINY, 1, 50, SynthDtype.FLOAT32, false, 2),
                tmp.resolve("c.onnx"))
            .data();
    assertArrayEquals(Files.readAllBytes(d1), Files.readAllBytes(d2));
    assertFalse(Arrays.equals(Files.readAllBytes(d1), Files.readAllBytes(d3)));
  }

  @Test
  void causalAndPaddingInvariant() throws Exception {
    Path p =
        SyntheticLlama.write(
                new SynthSpec(SynthShape.TINY, 2, 64, SynthDtype.FLOAT32, false, 3),
                tmp.resolve("m.onnx"))
            .model();
    OnnxModel model = OnnxModel.load(p);
    try (OrtSession s = OrtModels.session(model, model.proto(), new OrtSession.SessionOptions())) {
      long[] ids = {1, 5, 9, 33, 2, 60};
      float[][] full = logits(s, new long[][] {ids}, new long[][] {{1, 1, 1, 1, 1, 1}}, null)[0];
      // changing the last token leaves earlier positions unchanged (causal)
      long[] changed = ids.clone();
      changed[5] = 7;
      float[][] other =
          logits(s, new long[][] {changed}, new long[][] {{1, 1, 1, 1, 1, 1}}, null)[0];
      for (int t = 0; t < 5; t++) {
        assertArrayEquals(full[t], other[t], 1e-5f);
      }
      assertFalse(Arrays.equals(full[5], other[5]));
      // right padding: the valid positions are unchanged
      float[][] padded =
          logits(
              s,
              new long[][] {{1, 5, 9, 33, 2, 60, 0, 0}},
              new long[][] {{1, 1, 1, 1, 1, 1, 0, 0}},
              null)[0];
      for (int t = 0; t < 6; t++) {
        assertArrayEquals(full[t], padded[t], 1e-4f);
      }
      for (float v : full[0]) {
        assertTrue(Float.isFinite(v));
      }
    }
  }

  @Test
  void withPastMatchesThePlainForwardTokenByToken() throws Exception {
    SynthSpec plainSpec = new SynthSpec(SynthShape.TINY, 2, 64, SynthDtype.FLOAT32, false, 5);
    SynthSpec pastSpec = new SynthSpec(SynthShape.TINY, 2, 64, SynthDtype.FLOAT32, true, 5);
    OnnxModel plain =
        OnnxModel.load(SyntheticLlama.write(plainSpec, tmp.resolve("plain.onnx")).model());
    OnnxModel past =
        OnnxModel.load(SyntheticLlama.write(pastSpec, tmp.resolve("past.onnx")).model());
    assertEquals(2, AttentionLocator.locate(past).numLayers());
    long[] ids = {1, 8, 3, 40, 22};
    try (OrtSession sp = OrtModels.session(plain, plain.proto(), new OrtSession.SessionOptions());
        OrtSession sc = OrtModels.session(past, past.proto(), new OrtSession.SessionOptions())) {
      float[][] full = logits(sp, new long[][] {ids}, new long[][] {{1, 1, 1, 1, 1}}, null)[0];
      // prefix of 3 through the cache inputs (empty past), then one token at a time
      Map<String, float[]> cache = new HashMap<>();
      int pastLen = 0;
      for (int[] step : new int[][] {{0, 3}, {3, 4}, {4, 5}}) {
        int n = step[1] - step[0];
        long[] chunk = Arrays.copyOfRange(ids, step[0], step[1]);
        long[] mask = new long[pastLen + n];
        Arrays.fill(mask, 1);
        long[] pos = new long[n];
        for (int i = 0; i < n; i++) {
          pos[i] = pastLen + i;
        }
        Map<String, float[]> present = new HashMap<>();
        float[][] out =
            logits(
                sc,
                new long[][] {chunk},
                new long[][] {mask},
                new Object[] {pos, cache, pastLen, present})[0];
        for (int i = 0; i < n; i++) {
          assertArrayEquals(full[step[0] + i], out[i], 1e-4f);
        }
        cache = present;
        pastLen += n;
      }
    }
  }

  @Test
  void float16IsLocatedAndRuns() throws Exception {
    SyntheticLlama.Written w =
        SyntheticLlama.write(
            new SynthSpec(SynthShape.TINY, 1, 64, SynthDtype.FLOAT16, false, 3),
            tmp.resolve("h.onnx"));
    assertEquals(
        new SynthSpec(SynthShape.TINY, 1, 64, SynthDtype.FLOAT16, false, 3).parameters() * 2,
        Files.size(w.data()));
    AttentionMap map = AttentionLocator.locate(OnnxModel.load(w.model()));
    assertEquals(1, map.numLayers());
    assertTrue(map.block(0).causal());
  }

  @Test
  void badSpecsAreUserErrors() {
    assertThrows(
        HeadwiseException.class,
        () -> new SynthSpec(SynthShape.TINY, 0, 64, SynthDtype.FLOAT32, false, 1));
    assertThrows(
        HeadwiseException.class,
        () -> new SynthSpec(SynthShape.TINY, 1, 1, SynthDtype.FLOAT32, false, 1));
    assertThrows(HeadwiseException.class, () -> SynthShape.of("gpt5"));
    assertThrows(HeadwiseException.class, () -> SynthDtype.of("int4"));
    HeadwiseException e =
        assertThrows(
            HeadwiseException.class,
            () ->
                SyntheticLlama.write(
                    new SynthSpec(SynthShape.TINY, 1, 64, SynthDtype.FLOAT32, false, 1),
                    tmp.resolve("no/such/dir/m.onnx")));
    assertTrue(e.getMessage().contains("does not exist"), e.getMessage());
  }

  @Test
  void missingOrTruncatedExternalDataIsOneErrorNamingTheFile() throws Exception {
    SyntheticLlama.Written w =
        SyntheticLlama.write(
            new SynthSpec(SynthShape.TINY, 1, 64, SynthDtype.FLOAT32, false, 1),
            tmp.resolve("m.onnx"));
    long size = Files.size(w.data());
    try (var ch =
        java.nio.channels.FileChannel.open(w.data(), java.nio.file.StandardOpenOption.WRITE)) {
      ch.truncate(size - 4);
    }
    HeadwiseException e = assertThrows(HeadwiseException.class, () -> OnnxModel.load(w.model()));
    assertTrue(
        e.getMessage().contains("m.onnx.data")
            && e.getMessage().contains("shorter than the graph says"),
        e.getMessage());
    Files.delete(w.data());
    e = assertThrows(HeadwiseException.class, () -> OnnxModel.load(w.model()));
    assertTrue(
        e.getMessage().contains("external data file m.onnx.data")
            && e.getMessage().contains("missing"),
        e.getMessage());
  }

  @Test
  void halfConversionRoundTrips() {
    for (float f : new float[] {0f, 1f, -2.5f, 65504f, 6.1e-5f, 1e-7f, 0.1f}) {
      float back = Half.toFloat(Half.fromFloat(f));
      assertEquals(f, back, Math.max(Math.abs(f) * 1e-3, 6e-8), Float.toString(f));
    }
  }

  /**
   * Runs a session and returns logits [B][T][V]. {@code past}, when given, is {position ids, cache
   * by input name, past length, map to fill with the present outputs}.
   */
  @SuppressWarnings("unchecked")
  private static float[][][] logits(OrtSession s, long[][] ids, long[][] mask, Object[] past)
      throws Exception {
    int b = ids.length;
    int t = ids[0].length;
    Map<String, OnnxTensor> feeds = new HashMap<>();
    try {
      feeds.put(
          "input_ids", OnnxTensor.createTensor(ENV, LongBuffer.wrap(flat(ids)), new long[] {b, t}));
      feeds.put(
          "attention_mask",
          OnnxTensor.createTensor(
              ENV, LongBuffer.wrap(flat(mask)), new long[] {b, mask[0].length}));
      if (past != null) {
        feeds.put(
            "position_ids",
            OnnxTensor.createTensor(ENV, LongBuffer.wrap((long[]) past[0]), new long[] {1, t}));
        Map<String, float[]> cache = (Map<String, float[]>) past[1];
        int pastLen = (Integer) past[2];
        for (String in : s.getInputNames()) {
          if (in.startsWith("past_key_values.")) {
            float[] v =
                cache.getOrDefault(in.replace("past_key_values.", "present."), new float[0]);
            feeds.put(
                in,
                OnnxTensor.createTensor(ENV, FloatBuffer.wrap(v), new long[] {1, 2, pastLen, 16}));
          }
        }
      }
      try (OrtSession.Result r = s.run(feeds)) {
        float[][][] out = (float[][][]) r.get("logits").get().getValue();
        if (past != null) {
          Map<String, float[]> present = (Map<String, float[]>) past[3];
          for (var e : r) {
            if (e.getKey().startsWith("present.")) {
              OnnxTensor pt = (OnnxTensor) e.getValue();
              FloatBuffer fb = pt.getFloatBuffer();
              float[] a = new float[fb.remaining()];
              fb.get(a);
              present.put(e.getKey(), a);
            }
          }
        }
        return out;
      }
    } finally {
      feeds.values().forEach(OnnxTensor::close);
    }
  }

  private static long[] flat(long[][] a) {
    return Arrays.stream(a).flatMapToLong(Arrays::stream).toArray();
  }
}
