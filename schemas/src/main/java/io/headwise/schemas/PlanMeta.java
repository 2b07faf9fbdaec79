package io.headwise.schemas;

import java.util.List;
import java.util.Map;

/**
 * Plan-level metadata stored with every row of a plan: the lengths it was sized for, its expected
 * KV fraction at each of them, the model shape it applies to, and when it was made.
 */
public record PlanMeta(
    String planId,
    String modelId,
    String statsRunId,
    String method,
    double kvFractionTarget,
    List<Integer> targetLengths,
    Map<Integer, Double> expectedKvFraction,
    int numLayers,
    int numHeads,
    int numKvHeads,
    long createdAtMillis)
    implements java.io.Serializable {}
