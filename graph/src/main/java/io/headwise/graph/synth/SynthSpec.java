package io.headwise.graph.synth;

import io.headwise.schemas.HeadwiseException;

/**
 * What {@code headwise synth} generates: shape, depth, vocabulary, element type, KV-cache inputs,
 * random seed.
 */
public record SynthSpec(
    SynthShape shape, int layers, int vocab, SynthDtype dtype, boolean withPast, long seed) {
  public SynthSpec {
    if (layers <= 0) {
      throw new HeadwiseException("--layers must be at least 1, got " + layers);
    }
    if (vocab <= 1) {
      throw new HeadwiseException("--vocab must be at least 2, got " + vocab);
    }
  }

  /** All parameters (embedding, layers, final norm, untied LM head). */
  public long parameters() {
    return 2L * vocab * shape.hidden() + layers * shape.layerParameters() + shape.hidden();
  }

  /** Bytes of weight data. */
  public long weightBytes() {
    return parameters() * dtype.type.byteSize();
  }
}
