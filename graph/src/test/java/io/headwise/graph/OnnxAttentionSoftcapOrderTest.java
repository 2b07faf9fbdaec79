package io.headwise.graph;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import java.nio.FloatBuffer;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Why the expansion refuses {@code softcap} on the standard ONNX {@code Attention} (opset 23): ONNX
 * Runtime follows the operator's definition and caps the scores <em>after</em> adding the mask, so
 * a masked (here: future) key gets the finite logit −softcap and keeps weight, while headwise's
 * cores (and GroupQueryAttention's softcap, which the expansion does honour) mask after the cap. A
 * one-node causal Attention with softcap 2 run in ONNX Runtime equals a Java reference of
 * softmax(c·tanh((s + mask)/c)) and is far from softmax(c·tanh(s/c) + mask).
 */
class OnnxAttentionSoftcapOrderTest {
  private static final int HEADS = 2;
  private static final int SEQ = 5;
  private static final int DIM = 4;
  private static final float CAP = 2f;

  @Test
  void onnxRuntimeCapsTheScoresAfterTheCausalMask() throws Exception {
    GraphProto.Builder g = GraphProto.newBuilder().setName("attention");
    GraphBuilder b = new GraphBuilder(g, 23, "");
    for (String name : List.of("q", "k", "v")) {
      b.addInput(
          name,
          ElementType.FLOAT,
          "1",
          String.valueOf(HEADS),
          String.valueOf(SEQ),
          String.valueOf(DIM));
    }
    b.op(
        "Attention",
        List.of("q", "k", "v"),
        List.of("out"),
        GraphBuilder.intAttr("is_causal", 1),
        GraphBuilder.floatAttr("softcap", CAP));
    b.addOutput(
        "out",
        ElementType.FLOAT,
        "1",
        String.valueOf(HEADS),
        String.valueOf(SEQ),
        String.valueOf(DIM));
    ModelProto model =
        ModelProto.newBuilder()
            .setIrVersion(10)
            .setGraph(g)
            .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(23))
            .build();
    Random random = new Random(7);
    float[][] qkv = new float[3][HEADS * SEQ * DIM];
    for (float[] x : qkv) {
      for (int i = 0; i < x.length; i++) {
        x[i] = (float) random.nextGaussian() * 2f; // scores of a few units: the cap bends them
      }
    }
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    float[] ort;
    long[] shape = {1, HEADS, SEQ, DIM};
    try (OrtSession session = env.createSession(model.toByteArray());
        OnnxTensor q = OnnxTensor.createTensor(env, FloatBuffer.wrap(qkv[0]), shape);
        OnnxTensor k = OnnxTensor.createTensor(env, FloatBuffer.wrap(qkv[1]), shape);
        OnnxTensor v = OnnxTensor.createTensor(env, FloatBuffer.wrap(qkv[2]), shape);
        OrtSession.Result r = session.run(Map.of("q", q, "k", k, "v", v))) {
      ort = ((OnnxTensor) r.get(0)).getFloatBuffer().array();
    }
    double maskThenCap = maxDifference(ort, reference(qkv, true));
    double capThenMask = maxDifference(ort, reference(qkv, false));
    System.out.println(
        "ONNX Attention softcap in ONNX Runtime: max |ort − cap(scores + mask)| "
            + maskThenCap
            + ", max |ort − (cap(scores) + mask)| "
            + capThenMask);
    assertTrue(maskThenCap <= 1e-5, "ONNX Runtime no longer caps after the mask: " + maskThenCap);
    assertTrue(capThenMask > 0.1, "the two orders should differ here: " + capThenMask);
  }

  /** Attention output [1, H, S, D] with the cap applied after the causal mask or before it. */
  private static float[] reference(float[][] qkv, boolean capAfterMask) {
    float[] out = new float[HEADS * SEQ * DIM];
    double scale = 1 / Math.sqrt(DIM);
    for (int h = 0; h < HEADS; h++) {
      for (int i = 0; i < SEQ; i++) {
        double[] logit = new double[SEQ];
        for (int j = 0; j < SEQ; j++) {
          double s = 0;
          for (int d = 0; d < DIM; d++) {
            s += qkv[0][(h * SEQ + i) * DIM + d] * qkv[1][(h * SEQ + j) * DIM + d];
          }
          s *= scale;
          double mask = j <= i ? 0 : Double.NEGATIVE_INFINITY;
          logit[j] =
              capAfterMask ? CAP * Math.tanh((s + mask) / CAP) : CAP * Math.tanh(s / CAP) + mask;
        }
        double max = Double.NEGATIVE_INFINITY;
        for (double l : logit) {
          max = Math.max(max, l);
        }
        double sum = 0;
        for (double l : logit) {
          sum += Math.exp(l - max);
        }
        for (int j = 0; j < SEQ; j++) {
          double p = Math.exp(logit[j] - max) / sum;
          for (int d = 0; d < DIM; d++) {
            out[(h * SEQ + i) * DIM + d] += (float) (p * qkv[2][(h * SEQ + j) * DIM + d]);
          }
        }
      }
    }
    return out;
  }

  private static double maxDifference(float[] a, float[] b) {
    double worst = 0;
    for (int i = 0; i < a.length; i++) {
      worst = Math.max(worst, Math.abs(a[i] - b[i]));
    }
    return worst;
  }
}
