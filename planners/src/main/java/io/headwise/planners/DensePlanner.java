package io.headwise.planners;

import io.headwise.schemas.PlanRow;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The dense reference plan: every kv head keeps its whole KV cache ({@code full}). It ignores the
 * requested KV fraction (still validated to lie in (0, 1]) and says so in {@code budget_note}; it
 * needs no statistics beyond the model shape. Options: none.
 */
public final class DensePlanner implements KvPlanner {
  public static final String METHOD = "dense";

  @Override
  public String method() {
    return METHOD;
  }

  @Override
  public List<OptionSpec> options() {
    return List.of();
  }

  @Override
  public Plan plan(PlanRequest request) {
    PlanOptions.resolve(METHOD, options(), request.options());
    HeadStatsTable stats = request.stats();
    List<HeadPolicy> heads = PlanAssembly.perKvHead(stats, (l, k, i) -> HeadPolicy.full(l, k));
    Map<String, Object> params = new LinkedHashMap<>();
    String note =
        request.kvFraction() < 1.0
            ? "dense keeps every token of every head, so its KV fraction is 1 whatever fraction was requested"
            : null;
    return PlanAssembly.assemble(request, METHOD, PlanRow.KV_HEAD, heads, params, note, List.of());
  }
}
