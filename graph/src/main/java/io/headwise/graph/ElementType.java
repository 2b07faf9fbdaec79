package io.headwise.graph;

import java.util.Optional;

/**
 * An ONNX tensor element type ({@code TensorProto.DataType}): its code in the protobuf, its name in
 * ONNX type strings ({@code tensor(float16)}), its size in bytes and whether it holds real floating
 * point numbers. Code inside headwise passes these; the int {@link #code()} is used only where a
 * protobuf field or attribute needs it ({@code elem_type}, {@code data_type}, Cast's {@code to}).
 */
public enum ElementType {
  /** The type is not known (not declared and not inferred); code 0 in ONNX. */
  UNDEFINED(0, "undefined", 0, false),
  FLOAT(1, "float", 4, true),
  UINT8(2, "uint8", 1, false),
  INT8(3, "int8", 1, false),
  UINT16(4, "uint16", 2, false),
  INT16(5, "int16", 2, false),
  INT32(6, "int32", 4, false),
  INT64(7, "int64", 8, false),
  /** Variable length: no fixed byte size. */
  STRING(8, "string", 0, false),
  BOOL(9, "bool", 1, false),
  FLOAT16(10, "float16", 2, true),
  DOUBLE(11, "double", 8, true),
  UINT32(12, "uint32", 4, false),
  UINT64(13, "uint64", 8, false),
  COMPLEX64(14, "complex64", 8, false),
  COMPLEX128(15, "complex128", 16, false),
  BFLOAT16(16, "bfloat16", 2, true),
  FLOAT8E4M3FN(17, "float8e4m3fn", 1, true),
  FLOAT8E4M3FNUZ(18, "float8e4m3fnuz", 1, true),
  FLOAT8E5M2(19, "float8e5m2", 1, true),
  FLOAT8E5M2FNUZ(20, "float8e5m2fnuz", 1, true),
  /** Two values per byte: no whole-byte size per element. */
  UINT4(21, "uint4", 0, false),
  /** Two values per byte: no whole-byte size per element. */
  INT4(22, "int4", 0, false);

  private static final ElementType[] BY_CODE = new ElementType[23];

  static {
    for (ElementType t : values()) {
      BY_CODE[t.code] = t;
    }
  }

  private final int code;
  private final String onnxName;
  private final int byteSize;
  private final boolean floating;

  ElementType(int code, String onnxName, int byteSize, boolean floating) {
    this.code = code;
    this.onnxName = onnxName;
    this.byteSize = byteSize;
    this.floating = floating;
  }

  /** The {@code TensorProto.DataType} code. */
  public int code() {
    return code;
  }

  /** The name in ONNX type strings, e.g. {@code float16} as in {@code tensor(float16)}. */
  public String onnxName() {
    return onnxName;
  }

  /** Bytes per element; 0 when an element has no fixed whole-byte size (string, 4-bit types). */
  public int byteSize() {
    return byteSize;
  }

  /**
   * Whether the type holds real floating point numbers (float, float16, bfloat16, double, float8).
   */
  public boolean isFloating() {
    return floating;
  }

  /** The type with this code, if it is one ONNX defines (a newer model may use a newer code). */
  public static Optional<ElementType> find(int code) {
    return code >= 0 && code < BY_CODE.length ? Optional.of(BY_CODE[code]) : Optional.empty();
  }

  /** The type with this code; an unknown code is an error. */
  public static ElementType of(int code) {
    return find(code)
        .orElseThrow(() -> new IllegalArgumentException("unknown ONNX element type " + code));
  }

  @Override
  public String toString() {
    return onnxName;
  }
}
