package io.headwise.planners;

import java.util.List;

/** One KV-cache planning method: head statistics and a KV budget in, a per-head plan out. */
public interface KvPlanner {
  /** The method name stored in the plan rows and used to look the planner up. */
  String method();

  /** The options this method accepts, with defaults; any other key is rejected. */
  List<OptionSpec> options();

  /**
   * Builds the plan; throws {@code HeadwiseException} for a budget, statistic or option the user
   * must fix.
   */
  Plan plan(PlanRequest request);
}
