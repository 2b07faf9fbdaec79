package io.headwise.profilers;

import java.io.Serializable;

/**
 * Per-token importance of one sample in one layer: s_j = Σ_h Σ_i P_hij over valid queries i, for
 * each valid token j in order (the attention token j receives; RSQ's raw score).
 */
public record TokenImportance(String sampleId, int layer, float[] values) implements Serializable {}
