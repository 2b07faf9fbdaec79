package io.headwise.export.attention;

import java.nio.file.Path;
import java.util.List;

/**
 * What {@link HeadwiseAttentionExporter#export} wrote.
 *
 * @param output the compressed {@code .onnx} file
 * @param layersRewritten attention cores replaced by {@code HeadwiseAttention} nodes
 * @param externalData how the weights are stored next to the output
 * @param dataFiles the external-data files the output reads (empty when the weights are embedded)
 * @param kvInputs per layer, which K/V tensors the op reads: {@code direct} (as many kv heads as
 *     query heads), {@code pre-repeat} (GQA, before repeat_kv) or {@code repeated} (GQA, repeat_kv
 *     not recognised; identity kv_heads mapping)
 */
public record HeadwiseAttentionExport(
    Path output,
    int layersRewritten,
    ExternalData externalData,
    List<Path> dataFiles,
    List<String> kvInputs) {

  /** How the weights of an exported model are stored. */
  public enum ExternalData {
    /** The source model embeds its weights; the output is one self-contained file. */
    EMBEDDED,
    /**
     * The output was written in the directory of the source model's data files and reads them in
     * place.
     */
    SAME_DIRECTORY,
    /** The data files were copied next to the output. */
    COPIED,
    /**
     * The data files were hard-linked next to the output (asked for with {@link
     * ExternalDataPlacement#HARD_LINK}).
     */
    HARD_LINKED
  }
}
