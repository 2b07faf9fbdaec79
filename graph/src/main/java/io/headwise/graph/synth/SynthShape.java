package io.headwise.graph.synth;

import io.headwise.schemas.HeadwiseException;
import java.util.Locale;

/**
 * The architecture dimensions of a synthetic Llama-style decoder. {@code llama3-8b} has
 * Llama-3-8B's real per-layer shapes (hidden 4096, 32 query heads, 8 kv heads, head dim 128, SwiGLU
 * 14336, RoPE theta 500000, RMSNorm eps 1e-5); {@code tiny} keeps the same structure (GQA group 2,
 * RoPE, RMSNorm, SwiGLU) at sizes that run in milliseconds.
 */
public record SynthShape(
    String name,
    int hidden,
    int heads,
    int kvHeads,
    int headDim,
    int intermediate,
    double ropeTheta,
    double rmsEps) {

  public static final SynthShape LLAMA3_8B =
      new SynthShape("llama3-8b", 4096, 32, 8, 128, 14336, 500000.0, 1e-5);
  public static final SynthShape TINY = new SynthShape("tiny", 64, 4, 2, 16, 128, 10000.0, 1e-5);

  /** The shape called {@code name}; unknown names are a user error listing the known ones. */
  public static SynthShape of(String name) {
    return switch (name.toLowerCase(Locale.ROOT)) {
      case "llama3-8b" -> LLAMA3_8B;
      case "tiny" -> TINY;
      default ->
          throw new HeadwiseException(
              "unknown synthetic shape '" + name + "'; known shapes: llama3-8b, tiny");
    };
  }

  /** Query heads per kv head. */
  public int group() {
    return heads / kvHeads;
  }

  /** Parameters of one decoder layer (attention, MLP, two norms). */
  public long layerParameters() {
    long attn = (long) hidden * heads * headDim * 2 + (long) hidden * kvHeads * headDim * 2;
    long mlp = 3L * hidden * intermediate;
    return attn + mlp + 2L * hidden;
  }
}
