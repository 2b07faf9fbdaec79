package io.headwise.planners;

import io.headwise.schemas.HeadwiseException;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * What a KV planner is asked for: a plan id, the statistics of one model, the KV fraction F in (0,
 * 1] to keep, the sequence lengths the plan is sized for, and method options (keys are validated by
 * the planner).
 */
public record PlanRequest(
    String planId,
    HeadStatsTable stats,
    double kvFraction,
    List<Integer> targetLengths,
    Map<String, String> options,
    long createdAtMillis) {

  public PlanRequest {
    Objects.requireNonNull(stats, "stats");
    check(planId, kvFraction, targetLengths);
    targetLengths = List.copyOf(targetLengths.stream().distinct().sorted().toList());
    options = Map.copyOf(options == null ? Map.of() : options);
  }

  /**
   * The checks on a request's parameters, callable before the statistics are read (before Spark
   * starts).
   */
  public static void check(String planId, double kvFraction, List<Integer> targetLengths) {
    if (planId == null || planId.isBlank()) {
      throw new HeadwiseException("a plan needs a non-empty plan id");
    }
    if (!(kvFraction > 0.0 && kvFraction <= 1.0)) {
      throw new HeadwiseException(
          "KV fraction "
              + kvFraction
              + " is outside (0, 1]: pass the share of the KV cache"
              + " to keep, e.g. 0.5 for half");
    }
    if (targetLengths == null || targetLengths.isEmpty()) {
      throw new HeadwiseException("plan " + planId + " needs at least one target sequence length");
    }
    for (int n : targetLengths) {
      if (n <= 0) {
        throw new HeadwiseException(
            "target length " + n + " of plan " + planId + " is not positive");
      }
    }
  }

  /** A request stamped with the current time. */
  public PlanRequest(
      String planId,
      HeadStatsTable stats,
      double kvFraction,
      List<Integer> targetLengths,
      Map<String, String> options) {
    this(planId, stats, kvFraction, targetLengths, options, System.currentTimeMillis());
  }

  public int minLength() {
    return targetLengths.get(0);
  }

  public int maxLength() {
    return targetLengths.get(targetLengths.size() - 1);
  }
}
