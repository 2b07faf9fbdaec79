package io.headwise.graph.synth;

import ai.onnxruntime.platform.Fp16Conversions;
import io.headwise.graph.ElementType;
import io.headwise.schemas.HeadwiseException;
import java.nio.ByteBuffer;
import java.util.Locale;

/** Element type of a synthetic model's weights and activations. */
public enum SynthDtype {
  FLOAT32(ElementType.FLOAT),
  FLOAT16(ElementType.FLOAT16),
  /** Runs here only through {@link io.headwise.graph.Bfloat16Emulation} (no CPU bf16 kernels). */
  BFLOAT16(ElementType.BFLOAT16);

  /** The ONNX element type. */
  public final ElementType type;

  SynthDtype(ElementType type) {
    this.type = type;
  }

  /**
   * The dtype called {@code name} ({@code float32}/{@code float16}, also {@code fp32}/{@code
   * fp16}).
   */
  public static SynthDtype of(String name) {
    return switch (name.toLowerCase(Locale.ROOT)) {
      case "float32", "fp32" -> FLOAT32;
      case "float16", "fp16" -> FLOAT16;
      case "bfloat16", "bf16" -> BFLOAT16;
      default ->
          throw new HeadwiseException(
              "unknown --dtype '" + name + "'; use float32, float16 or bfloat16");
    };
  }

  /**
   * The lowest finite value, used for masked scores the way Hugging Face uses {@code
   * torch.finfo(dtype).min}.
   */
  public float lowest() {
    return switch (this) {
      case FLOAT32 -> -Float.MAX_VALUE;
      case FLOAT16 -> -65504f;
      case BFLOAT16 -> Float.intBitsToFloat(0xFF7F0000); // -3.3895e38
    };
  }

  /** Appends {@code v} rounded to this type (little-endian buffer). */
  void put(ByteBuffer buffer, float v) {
    switch (this) {
      case FLOAT32 -> buffer.putFloat(v);
      case FLOAT16 -> buffer.putShort(Half.fromFloat(v));
      case BFLOAT16 -> buffer.putShort(Fp16Conversions.floatToBf16(v));
    }
  }
}
