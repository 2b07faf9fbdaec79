package io.headwise.jobs.quantize;

import io.headwise.export.quant.QuantizedLinear;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The linears quantized so far in one run, keyed by output tensor, and the calibration evidence
 * behind them. It is the one piece of run state that accumulates: {@link QuantizeSolver} adds one
 * {@link QuantizeLayers.Pass} per capture pass (one for {@code --capture fp}, one per Hessian group
 * for {@code sequential}), and the write stage only reads it.
 */
final class QuantizedLinears {
  private final Map<String, QuantizedLinear> byOutput = new LinkedHashMap<>();
  private long tokens;
  private long sequences;

  /**
   * Adds a pass's linears. Every pass sees the same calibration samples, so tokens and sequences
   * are the largest any pass counted, not a sum.
   */
  void add(QuantizeLayers.Pass pass) {
    for (QuantizedLinear q : pass.layers()) {
      byOutput.put(q.outputTensor(), q);
    }
    tokens = Math.max(tokens, pass.tokens());
    sequences = Math.max(sequences, pass.sequences());
  }

  /** The linears by output tensor, in the order they were added (read-only). */
  Map<String, QuantizedLinear> byOutput() {
    return Collections.unmodifiableMap(byOutput);
  }

  /** The linear writing {@code outputTensor}. */
  QuantizedLinear get(String outputTensor) {
    return byOutput.get(outputTensor);
  }

  /** How many linears were quantized. */
  int size() {
    return byOutput.size();
  }

  /** Calibration tokens the Hessians saw (0 for RTN). */
  long tokens() {
    return tokens;
  }

  /** Calibration sequences the Hessians saw (0 for RTN). */
  long sequences() {
    return sequences;
  }
}
