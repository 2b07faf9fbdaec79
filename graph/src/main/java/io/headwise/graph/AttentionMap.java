package io.headwise.graph;

import io.headwise.schemas.HeadwiseException;
import java.util.List;

/**
 * Where every attention block of a model is: its softmax, probabilities, score path and V, the
 * number of query and kv heads, head dim and causality; plus the fused attention ops that are
 * reported as unsupported.
 */
public record AttentionMap(
    String modelId,
    int opset,
    List<AttentionBlock> blocks,
    List<UnsupportedAttention> unsupported) {

  public int numLayers() {
    return blocks.size();
  }

  public AttentionBlock block(int layer) {
    return blocks.get(layer);
  }

  /** Throws a clear error when the map has no supported attention block. */
  public AttentionMap requireAttention(String modelSource) {
    if (blocks.isEmpty()) {
      if (!unsupported.isEmpty()) {
        throw new HeadwiseException(
            "model "
                + modelSource
                + " has only fused attention ops: "
                + unsupported.get(0).describe()
                + "; export it with eager attention (attn_implementation=\"eager\")"
                + " or an opset below 23");
      }
      throw new HeadwiseException(
          "model "
              + modelSource
              + " has no attention block (no Softmax over attention"
              + " scores feeding MatMul(P, V)); headwise needs a transformer exported with explicit attention");
    }
    return this;
  }
}
