package io.headwise.planners;

import io.headwise.schemas.HeadwiseException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** Registry of the KV planners by method name: dense, streamingllm, h2o, moa, duo, razor, ems. */
public final class KvPlanners {
  private static final Map<String, KvPlanner> PLANNERS = new LinkedHashMap<>();

  static {
    for (KvPlanner p :
        List.of(
            new DensePlanner(),
            new StreamingLlmPlanner(),
            new H2oPlanner(),
            new MoaPlanner(),
            new DuoAttentionPlanner(),
            new RazorAttentionPlanner(),
            new EmsPlanner())) {
      PLANNERS.put(p.method(), p);
    }
  }

  private KvPlanners() {}

  /** Method names in registry order. */
  public static List<String> methods() {
    return List.copyOf(PLANNERS.keySet());
  }

  /** The planner for {@code method}; HeadwiseException listing the valid names when unknown. */
  public static KvPlanner get(String method) {
    KvPlanner p = method == null ? null : PLANNERS.get(method.trim().toLowerCase(Locale.ROOT));
    if (p == null) {
      throw new HeadwiseException(
          "unknown KV planning method '"
              + method
              + "'; valid methods: "
              + String.join(", ", PLANNERS.keySet()));
    }
    return p;
  }

  /** Plans {@code request} with {@code method}. */
  public static Plan plan(String method, PlanRequest request) {
    return get(method).plan(request);
  }
}
