package io.headwise.jobs.report;

import java.time.Instant;

/** One row of the {@code evaluations} table; metrics a run did not measure are null. */
public record EvaluationRecord(
    String modelId,
    String runId,
    String planId,
    String method,
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
    Instant createdAt) {}
