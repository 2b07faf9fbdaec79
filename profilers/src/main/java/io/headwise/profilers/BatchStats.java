package io.headwise.profilers;

import java.util.List;
import java.util.Map;

/**
 * What one run of an instrumented graph returned: per statistic output a [B][H] array of sums, per
 * count output a [B] array, per denominator output a [B][H] array, and per layer the [B][T] token
 * importance (empty if disabled).
 */
public record BatchStats(
    Batch batch,
    List<StatOutput> statOutputs,
    Map<String, float[][]> sums,
    Map<String, float[]> counts,
    Map<String, float[][]> denominators,
    List<float[][]> importance) {}
