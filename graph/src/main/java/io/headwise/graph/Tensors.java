package io.headwise.graph;

import ai.onnx.proto.OnnxMl.TensorProto;
import com.google.protobuf.ByteString;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.List;
import java.util.function.IntToDoubleFunction;

/**
 * Builds small ONNX tensors and reads the values of small embedded ones (constants, scales,
 * shapes).
 */
public final class Tensors {
  private Tensors() {}

  /** Number of elements of a tensor with the given dims. */
  public static long numel(List<Long> dims) {
    long n = 1;
    for (long d : dims) {
      n *= d;
    }
    return n;
  }

  /**
   * The values of an embedded tensor as doubles, or null when the tensor is external or of a type
   * that holds no numbers.
   */
  public static double[] toDoubles(TensorProto t) {
    IntToDoubleFunction values = values(t);
    if (values == null) {
      return null;
    }
    double[] out = new double[(int) numel(t.getDimsList())];
    for (int i = 0; i < out.length; i++) {
      out[i] = values.applyAsDouble(i);
    }
    return out;
  }

  /**
   * Element {@code i} (row-major) of an embedded tensor as a double, read in place from its raw
   * bytes or typed list; null when the tensor is external or holds no numbers. Large weights are
   * read through this instead of {@link #toDoubles} so that they never exist as a double copy.
   */
  public static IntToDoubleFunction values(TensorProto t) {
    if (t.getDataLocation() == TensorProto.DataLocation.EXTERNAL) {
      return null;
    }
    ByteBuffer raw =
        t.getRawData().isEmpty()
            ? null
            : t.getRawData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
    switch (ElementType.find(t.getDataType()).orElse(ElementType.UNDEFINED)) {
      case FLOAT:
        return raw != null ? i -> raw.getFloat(4 * i) : t::getFloatData;
      case DOUBLE:
        return raw != null ? i -> raw.getDouble(8 * i) : t::getDoubleData;
      case INT64:
        return raw != null ? i -> raw.getLong(8 * i) : t::getInt64Data;
      case INT32:
        return raw != null ? i -> raw.getInt(4 * i) : t::getInt32Data;
      case INT16:
        return raw != null ? i -> raw.getShort(2 * i) : t::getInt32Data;
      case INT8:
        return raw != null ? raw::get : t::getInt32Data;
      case UINT8:
      case BOOL:
        return raw != null ? i -> raw.get(i) & 0xff : t::getInt32Data;
      case FLOAT16:
        return i ->
            ai.onnxruntime.platform.Fp16Conversions.fp16ToFloat(
                (short) (raw != null ? raw.getShort(2 * i) : t.getInt32Data(i)));
      case BFLOAT16:
        return i ->
            Float.intBitsToFloat(
                (raw != null ? raw.getShort(2 * i) & 0xffff : t.getInt32Data(i)) << 16);
      default:
        return null;
    }
  }

  /** A float tensor with the given dims. */
  public static TensorProto floats(String name, long[] dims, float... values) {
    ByteBuffer b = ByteBuffer.allocate(4 * values.length).order(ByteOrder.LITTLE_ENDIAN);
    for (float v : values) {
      b.putFloat(v);
    }
    return TensorProto.newBuilder()
        .setName(name)
        .setDataType(ElementType.FLOAT.code())
        .addAllDims(box(dims))
        .setRawData(ByteString.copyFrom(b.array()))
        .build();
  }

  /** An int64 tensor with the given dims. */
  public static TensorProto longs(String name, long[] dims, long... values) {
    ByteBuffer b = ByteBuffer.allocate(8 * values.length).order(ByteOrder.LITTLE_ENDIAN);
    for (long v : values) {
      b.putLong(v);
    }
    return TensorProto.newBuilder()
        .setName(name)
        .setDataType(ElementType.INT64.code())
        .addAllDims(box(dims))
        .setRawData(ByteString.copyFrom(b.array()))
        .build();
  }

  /** A 1-D int64 tensor. */
  public static TensorProto longVector(String name, long... values) {
    return longs(name, new long[] {values.length}, values);
  }

  /** A scalar float tensor. */
  public static TensorProto floatScalar(String name, float value) {
    return floats(name, new long[0], value);
  }

  /**
   * A scalar 0 of a float element type (float32, float16 or bfloat16: all bits zero); {@code
   * dataType} is the protobuf code, as the callers key their zeros by it.
   */
  public static TensorProto zeroScalar(String name, int dataType) {
    ElementType type = ElementType.find(dataType).orElse(ElementType.UNDEFINED);
    if (type != ElementType.FLOAT && type != ElementType.FLOAT16 && type != ElementType.BFLOAT16) {
      throw new IllegalArgumentException("no zero scalar for type " + dataType);
    }
    int bytes = type.byteSize();
    return TensorProto.newBuilder()
        .setName(name)
        .setDataType(dataType)
        .setRawData(ByteString.copyFrom(new byte[bytes]))
        .build();
  }

  /** A scalar int64 tensor. */
  public static TensorProto longScalar(String name, long value) {
    return longs(name, new long[0], value);
  }

  private static List<Long> box(long[] dims) {
    return Arrays.stream(dims).boxed().toList();
  }
}
