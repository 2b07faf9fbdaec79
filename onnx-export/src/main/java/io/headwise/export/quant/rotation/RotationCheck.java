package io.headwise.export.quant.rotation;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import io.headwise.graph.ModelFeeds;
import io.headwise.graph.ModelInputs;
import io.headwise.graph.OnnxModel;
import io.headwise.graph.OrtModels;
import io.headwise.schemas.HeadwiseException;
import java.nio.FloatBuffer;
import java.util.Map;
import java.util.Set;

/**
 * Runs the original and a rewritten model on the same tokens in ONNX Runtime (CPU) and measures how
 * far the first outputs (logits or hidden states) differ at valid positions: the acceptance test of
 * a rotation.
 *
 * <p>The bar is {@code max |Δ| ≤ 1e-4 · max(1, max |reference|)}: 1e-4 absolute for outputs of
 * magnitude up to 1, relative to the output scale above it. An absolute 1e-4 on raw logits would
 * sit inside float32 noise: stories260k's logits reach 25 and change by 1.2e-4 between ONNX
 * Runtime's optimization levels alone; folding its RMSNorm weights (an exact identity) moves them
 * by 9e-5 and the full rotation by 1–3e-4, i.e. about 1e-5 of the logit scale, while a structural
 * mistake moves them by O(1).
 */
public final class RotationCheck {
  /**
   * The tolerance a rotated full-precision model must meet, relative to {@code max(1, max
   * |reference|)}.
   */
  public static final double TOLERANCE = 1e-4;

  /**
   * Largest absolute difference and the largest absolute reference value it was measured against.
   */
  public record Difference(double maxAbs, double referenceMaxAbs, long values) {
    /** {@code maxAbs / max(1, referenceMaxAbs)}. */
    public double relative() {
      return maxAbs / Math.max(1, referenceMaxAbs);
    }

    /** Whether {@link #relative()} is within {@link #TOLERANCE}. */
    public boolean withinTolerance() {
      return relative() <= TOLERANCE;
    }
  }

  private RotationCheck() {}

  /**
   * Compares {@code original} with {@code rewritten} on {@code ids}/{@code mask} ([B][T], 1 =
   * valid).
   */
  public static Difference compare(
      OnnxModel original, ModelProto rewritten, long[][] ids, long[][] mask) {
    float[] a = run(original, original.proto(), ids, mask);
    float[] b = run(original, rewritten, ids, mask);
    if (a.length != b.length) {
      throw new HeadwiseException(
          "the rewritten model's first output has "
              + b.length
              + " values, the original's "
              + a.length);
    }
    int rows = ids.length;
    int t = ids[0].length;
    int per = a.length / (rows * t);
    double max = 0;
    double ref = 0;
    long n = 0;
    for (int r = 0; r < rows; r++) {
      for (int i = 0; i < t; i++) {
        if (mask[r][i] == 0) {
          continue;
        }
        int base = (r * t + i) * per;
        for (int v = 0; v < per; v++) {
          max = Math.max(max, Math.abs((double) a[base + v] - b[base + v]));
          ref = Math.max(ref, Math.abs(a[base + v]));
          n++;
        }
      }
    }
    return new Difference(max, ref, n);
  }

  private static float[] run(OnnxModel model, ModelProto proto, long[][] ids, long[][] mask) {
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    try (OrtSession.SessionOptions options = new OrtSession.SessionOptions();
        OrtSession session = OrtModels.session(model, proto, options)) {
      Map<String, OnnxTensor> feeds =
          ModelFeeds.create(env, ModelInputs.of(model.graph()), ids, mask);
      try (OrtSession.Result r =
          session.run(feeds, Set.of(session.getOutputNames().iterator().next()))) {
        FloatBuffer fb = ((OnnxTensor) r.get(0)).getFloatBuffer();
        float[] v = new float[fb.remaining()];
        fb.get(v);
        return v;
      } finally {
        feeds.values().forEach(OnnxTensor::close);
      }
    } catch (OrtException e) {
      throw new HeadwiseException(
          "ONNX Runtime failed comparing the rotated model: " + e.getMessage(), e);
    }
  }
}
