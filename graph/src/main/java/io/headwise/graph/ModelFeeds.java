package io.headwise.graph;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.nio.LongBuffer;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Builds ONNX Runtime input tensors for a batch of token ids and masks according to {@link
 * ModelInputs}. Position ids count valid tokens only (cumulative sum of the mask minus one, 0 at
 * padding), as Hugging Face does for padded batches. The caller closes the returned tensors.
 */
public final class ModelFeeds {
  private ModelFeeds() {}

  /** Tensors for {@code ids[b][t]} and {@code mask[b][t]} (same shape; 1 = valid, 0 = padding). */
  public static Map<String, OnnxTensor> create(
      OrtEnvironment env, ModelInputs inputs, long[][] ids, long[][] mask) throws OrtException {
    int b = ids.length;
    int t = ids[0].length;
    Map<String, OnnxTensor> feeds = new LinkedHashMap<>();
    try {
      feeds.put(inputs.inputIds(), intTensor(env, inputs.inputIdsType(), ids, b, t));
      if (inputs.attentionMask().isPresent()) {
        feeds.put(
            inputs.attentionMask().get(), intTensor(env, inputs.attentionMaskType(), mask, b, t));
      }
      if (inputs.tokenTypeIds().isPresent()) {
        feeds.put(
            inputs.tokenTypeIds().get(),
            intTensor(env, inputs.tokenTypeIdsType(), new long[b][t], b, t));
      }
      if (inputs.positionIds().isPresent()) {
        long[][] pos = new long[b][t];
        for (int i = 0; i < b; i++) {
          long c = 0;
          for (int j = 0; j < t; j++) {
            pos[i][j] = mask[i][j] != 0 ? c++ : 0;
          }
        }
        feeds.put(inputs.positionIds().get(), intTensor(env, inputs.positionIdsType(), pos, b, t));
      }
      for (ModelInputs.PastInput p : inputs.pastInputs()) {
        long[] shape = p.emptyShape(b);
        OnnxTensor empty;
        if (p.elemType() == ElementType.FLOAT16 || p.elemType() == ElementType.BFLOAT16) {
          empty =
              OnnxTensor.createTensor(
                  env,
                  java.nio.ByteBuffer.allocateDirect(0),
                  shape,
                  p.elemType() == ElementType.FLOAT16
                      ? ai.onnxruntime.OnnxJavaType.FLOAT16
                      : ai.onnxruntime.OnnxJavaType.BFLOAT16);
        } else {
          empty = OnnxTensor.createTensor(env, FloatBuffer.allocate(0), shape);
        }
        feeds.put(p.name(), empty);
      }
      return feeds;
    } catch (OrtException | RuntimeException e) {
      feeds.values().forEach(OnnxTensor::close);
      throw e;
    }
  }

  private static OnnxTensor intTensor(
      OrtEnvironment env, ElementType elemType, long[][] v, int b, int t) throws OrtException {
    long[] shape = {b, t};
    if (elemType == ElementType.INT32) {
      IntBuffer buf = IntBuffer.allocate(b * t);
      for (long[] row : v) {
        for (long x : row) {
          buf.put((int) x);
        }
      }
      buf.flip();
      return OnnxTensor.createTensor(env, buf, shape);
    }
    if (elemType == ElementType.FLOAT) {
      FloatBuffer buf = FloatBuffer.allocate(b * t);
      for (long[] row : v) {
        for (long x : row) {
          buf.put(x);
        }
      }
      buf.flip();
      return OnnxTensor.createTensor(env, buf, shape);
    }
    if (elemType == ElementType.BOOL) {
      boolean[][] bools = new boolean[b][t];
      for (int i = 0; i < b; i++) {
        for (int j = 0; j < t; j++) {
          bools[i][j] = v[i][j] != 0;
        }
      }
      return OnnxTensor.createTensor(env, bools);
    }
    LongBuffer buf = LongBuffer.allocate(b * t);
    for (long[] row : v) {
      buf.put(row);
    }
    buf.flip();
    return OnnxTensor.createTensor(env, buf, shape);
  }
}
