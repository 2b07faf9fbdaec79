package io.headwise.schemas;

/**
 * One row of the long-format {@code head_stats} table: the value of one statistic for one (layer,
 * query head) over the valid queries of one length bucket. {@code nQueries} is the weight used when
 * merging buckets.
 */
public record HeadStat(
    String modelId,
    String runId,
    int layer,
    int head,
    int kvHead,
    int lengthBucket,
    long nQueries,
    String stat,
    double value) {}
