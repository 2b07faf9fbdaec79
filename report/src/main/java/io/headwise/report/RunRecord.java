package io.headwise.report;

import java.time.Instant;

/** One row of the {@code runs} lineage table, as the report reads it. */
public record RunRecord(
    String runId,
    String step,
    String modelId,
    String modelSource,
    String status,
    Instant startedAt,
    Instant finishedAt,
    String configJson,
    String versionsJson,
    String rowCountsJson,
    String message) {}
