package io.headwise.export.quant.rotation;

import io.headwise.schemas.HeadwiseException;

/**
 * The graph's structure does not allow an exact residual-stream rotation; the message names the
 * node or pattern (e.g. a LayerNorm with bias). Callers quantize without rotation and record the
 * reason.
 */
public final class RotationRefusedException extends HeadwiseException {
  private static final long serialVersionUID = 1L;

  public RotationRefusedException(String message) {
    super(message);
  }
}
