package io.headwise.export.quant.rotation;

import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnxruntime.platform.Fp16Conversions;
import com.google.protobuf.ByteString;
import io.headwise.graph.Tensors;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Reads float32/float16 initializers as double matrices and writes them back in their own element
 * type.
 */
final class Weights {
  private Weights() {}

  /** A 2-D initializer as {@code [rows][cols]} doubles, as stored. */
  static double[][] matrix(TensorProto t) {
    double[] v = values(t);
    int rows = (int) t.getDims(0);
    int cols = (int) t.getDims(1);
    double[][] out = new double[rows][cols];
    for (int r = 0; r < rows; r++) {
      System.arraycopy(v, r * cols, out[r], 0, cols);
    }
    return out;
  }

  /** The initializer's values; refuses external data (load it first). */
  static double[] values(TensorProto t) {
    double[] v = Tensors.toDoubles(t);
    if (v == null) {
      throw new IllegalArgumentException(
          "initializer "
              + t.getName()
              + " is not embedded float data; load the"
              + " model's external data before rotating");
    }
    return v;
  }

  /** A copy of {@code like} (name, type) holding {@code m} {@code [rows][cols]}. */
  static TensorProto withMatrix(TensorProto like, String name, double[][] m) {
    int rows = m.length;
    int cols = m[0].length;
    double[] flat = new double[rows * cols];
    for (int r = 0; r < rows; r++) {
      System.arraycopy(m[r], 0, flat, r * cols, cols);
    }
    return TensorProto.newBuilder()
        .setName(name)
        .setDataType(like.getDataType())
        .addDims(rows)
        .addDims(cols)
        .setRawData(ByteString.copyFrom(encode(flat, like.getDataType())))
        .build();
  }

  /** A copy of {@code like} (name, type, dims) holding {@code v}. */
  static TensorProto withValues(TensorProto like, String name, double[] v) {
    return TensorProto.newBuilder()
        .setName(name)
        .setDataType(like.getDataType())
        .addAllDims(like.getDimsList())
        .setRawData(ByteString.copyFrom(encode(v, like.getDataType())))
        .build();
  }

  /** Little-endian float32 or float16 bytes of {@code v}. */
  static byte[] encode(double[] v, int elemType) {
    if (elemType == TensorProto.DataType.FLOAT16_VALUE) {
      ByteBuffer b = ByteBuffer.allocate(2 * v.length).order(ByteOrder.LITTLE_ENDIAN);
      for (double x : v) {
        b.putShort(Fp16Conversions.floatToFp16((float) x));
      }
      return b.array();
    }
    if (elemType != TensorProto.DataType.FLOAT_VALUE) {
      throw new IllegalArgumentException(
          "only float32 and float16 tensors are rotated, got type " + elemType);
    }
    ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
    for (double x : v) {
      b.putFloat((float) x);
    }
    return b.array();
  }
}
