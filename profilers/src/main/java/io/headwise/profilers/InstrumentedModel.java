package io.headwise.profilers;

import ai.onnx.proto.OnnxMl.ModelProto;
import java.util.List;

/**
 * A model with per-head statistic subgraphs appended: the rewritten proto, the statistic outputs,
 * the per-row count outputs, the per-layer token-importance outputs ([B, T], empty when disabled),
 * and the extra probe inputs the graph expects for its {@link ProbeKind}. Batches fed to it must
 * have a length divisible by {@code lengthMultiple} (16 when the blockwise key cumulative sum is
 * used, else 1). {@code tiledLayers} run through the query-tiled core with {@code queryBlock} query
 * rows per block (0 and empty when the graph is untiled).
 */
public record InstrumentedModel(
    ModelProto proto,
    ProbeKind kind,
    List<Integer> windows,
    List<StatOutput> statOutputs,
    List<String> countOutputs,
    List<String> importanceOutputs,
    List<String> probeInputs,
    int lengthMultiple,
    int queryBlock,
    List<Integer> tiledLayers) {

  public static final String COUNT_VALID = "hw/count/valid";
  public static final String COUNT_REPEAT = "hw/count/repeat";
  public static final String COUNT_ANSWER = "hw/count/answer";

  public static final String REPEAT_START = "hw_repeat_start";
  public static final String REPEAT_PERIOD = "hw_repeat_period";
  public static final String REPEAT_COUNT = "hw_repeat_count";
  public static final String NEEDLE_START = "hw_needle_start";
  public static final String NEEDLE_END = "hw_needle_end";
  public static final String ANSWER_START = "hw_answer_start";
  public static final String ANSWER_END = "hw_answer_end";
}
