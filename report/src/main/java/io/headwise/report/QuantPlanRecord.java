package io.headwise.report;

/** One row of the {@code quant_plans} table: one quantized linear layer. */
public record QuantPlanRecord(
    String modelId,
    String runId,
    String name,
    String method,
    int bits,
    int groupSize,
    boolean symmetric,
    boolean rotated,
    int inFeatures,
    int outFeatures,
    double damping,
    double gptqLoss,
    double seconds,
    String paramsJson) {}
