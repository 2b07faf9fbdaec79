package io.headwise.report;

import io.headwise.schemas.Tables;
import java.time.Instant;

/**
 * One row of the {@code evaluations} table; metrics a run did not measure are null. {@code mode}:
 * {@code prefill} (the prefill simulation) or {@code decode} (the plan's decode graph).
 */
public record EvaluationRecord(
    String modelId,
    String runId,
    String planId,
    String method,
    String mode,
    boolean baseline,
    String baselineFor,
    Double kvFractionTarget,
    Double kvFraction,
    int nSamples,
    long nPositions,
    Double klMean,
    Double top1Agreement,
    Double nllDelta,
    Double repeatAccuracy,
    Double denseRepeatAccuracy,
    Double passkeyAccuracy,
    Double densePasskeyAccuracy,
    Double cosineMean,
    Instant createdAt) {
  /** Whether the row was measured through the plan's decode graph. */
  public boolean decoded() {
    return Tables.MODE_DECODE.equals(mode);
  }
}
