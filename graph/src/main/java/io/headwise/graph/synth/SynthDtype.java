package io.headwise.graph.synth;

import io.headwise.graph.ElementType;
import io.headwise.schemas.HeadwiseException;
import java.util.Locale;

/** Element type of a synthetic model's weights and activations. */
public enum SynthDtype {
  FLOAT32(ElementType.FLOAT),
  FLOAT16(ElementType.FLOAT16);

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
      default ->
          throw new HeadwiseException("unknown --dtype '" + name + "'; use float32 or float16");
    };
  }

  /**
   * The lowest finite value, used for masked scores the way Hugging Face uses {@code
   * torch.finfo(dtype).min}.
   */
  public float lowest() {
    return this == FLOAT32 ? -Float.MAX_VALUE : -65504f;
  }
}
