package io.headwise.jobs.quantize;

import io.headwise.graph.OnnxModel;
import io.headwise.profilers.quant.HessianGroup;
import io.headwise.profilers.quant.LinearLayer;
import java.util.List;

/**
 * Everything one quantize run computed, complete once the model is staged (and evaluated, when
 * asked): what {@link QuantizeRecords} turns into rows and printed lines and {@link QuantizeWriter}
 * commits.
 *
 * @param request what was asked
 * @param original the model as given
 * @param rotation the rotation applied or refused ({@link QuantizeRotation#none} without {@code
 *     --rotate})
 * @param layers the linears inside the transformer blocks, in graph order
 * @param groups the linears grouped by shared input (one Hessian each)
 * @param linears the quantized linears and their calibration evidence
 * @param partitions Spark partitions of the calibration samples
 * @param seconds time of capture and quantization
 * @param originalBytes bytes of the original model file and its data files
 * @param staged the staged quantized model (not yet in place)
 * @param quantizedBytes bytes of the staged model file and its data file
 * @param comparison the held-out comparison, null without {@code --eval-samples}
 */
record QuantizeResult(
    QuantizeRequest request,
    OnnxModel original,
    QuantizeRotation rotation,
    List<LinearLayer> layers,
    List<HessianGroup> groups,
    QuantizedLinears linears,
    int partitions,
    double seconds,
    long originalBytes,
    QuantizeModelFiles.Staged staged,
    long quantizedBytes,
    QuantizeComparison comparison) {

  /** The method as the rows name it: {@code gptq}, or {@code gptq+rotate} after a rotation. */
  String methodLabel() {
    return QuantizeRecords.methodLabel(request.spec(), rotation);
  }
}
