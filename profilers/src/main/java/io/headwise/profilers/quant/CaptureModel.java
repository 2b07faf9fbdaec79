package io.headwise.profilers.quant;

import ai.onnx.proto.OnnxMl.ModelProto;
import java.util.List;
import java.util.Map;

/**
 * A model with Hessian capture subgraphs appended.
 *
 * @param proto the rewritten model
 * @param groups the captured groups; group {@code g}'s sums are output {@link #gramOutput(int)}
 * @param weightOutputs per block layer, the name of the token weights output {@code [B, T]} (RSQ
 *     weighting only)
 */
public record CaptureModel(
    ModelProto proto, List<HessianGroup> groups, Map<Integer, String> weightOutputs) {
  /** Valid tokens of the batch, a float scalar. */
  public static final String TOKENS = "hw/quant/tokens";

  /** The {@code [K, K]} float output {@code Σ_t w_t x_t x_tᵀ} of group {@code g} for one batch. */
  public static String gramOutput(int group) {
    return "hw/quant/G" + group + "/gram";
  }

  /**
   * The rows of the flattened input of group {@code g} (int64 {@code [1]}); must equal {@code B·T}.
   */
  public static String rowsOutput(int group) {
    return "hw/quant/G" + group + "/rows";
  }

  /** The flattened float input {@code [B·T, K]} of group {@code g} (only with exposed inputs). */
  public static String inputOutput(int group) {
    return "hw/quant/G" + group + "/input";
  }

  /** The token weights {@code [B, T]} of block {@code layer} (RSQ weighting; 0 at padding). */
  public static String weightsOutput(int layer) {
    return "hw/quant/L" + layer + "/weights";
  }
}
