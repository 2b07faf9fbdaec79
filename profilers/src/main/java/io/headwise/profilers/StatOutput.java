package io.headwise.profilers;

/**
 * One per-head statistic output of an instrumented graph: tensor {@code tensor} of shape [B, H]
 * holds, per batch row and head, the sum over the row's counted queries of the per-query statistic
 * {@code stat} (for stream deviation: the numerator Σ‖o^K − o‖²). {@code counts} names the [B]
 * output with the number of counted queries per row; {@code denominator}, when not null, is the [B,
 * H] output the merged sum is divided by instead of the count.
 */
public record StatOutput(
    int layer, String stat, String tensor, String counts, String denominator) {}
