package io.headwise.export.attention;

import io.headwise.schemas.HeadwiseException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The cache layout of one layer of a decode graph: a resolved {@link LayerPlan} becomes the groups
 * of kv heads that share a policy (and so one set of cache tensors). Kept apart from the graph
 * building because it is pure plan logic, with the one refusal a decode graph adds (a kv head whose
 * query heads disagree).
 */
final class DecodeCacheGroups {
  private DecodeCacheGroups() {}

  /** Groups of kv heads with the same policy, in order of their first kv head. */
  static List<DecodeCacheGroup> of(LayerPlan plan, double[] kvHeads, int layer, String planId) {
    Map<String, List<Integer>> byPolicy = new LinkedHashMap<>();
    Map<Integer, Integer> policyHead = new HashMap<>();
    Map<Integer, String> policyOfKv = new HashMap<>();
    Map<Integer, String> detailOfKv = new HashMap<>();
    for (int h = 0; h < plan.numHeads(); h++) {
      int kind = (int) plan.kinds()[h];
      String policy =
          switch (kind) {
            case HeadwiseAttentionOp.KIND_FULL -> "full";
            case HeadwiseAttentionOp.KIND_BUDGET ->
                "b"
                    + plan.budgetTokens()[h]
                    + "/"
                    + plan.recentTokens()[h]
                    + "/m"
                    + plan.merge()[h];
            default ->
                "w"
                    + plan.sinkTokens()[h]
                    + "/"
                    + Float.floatToIntBits(plan.alpha()[h])
                    + "/"
                    + Float.floatToIntBits(plan.beta()[h])
                    + "/c"
                    + plan.compensation()[h];
          };
      int kv = (int) kvHeads[h];
      String before = detailOfKv.putIfAbsent(kv, policy);
      if (before != null && !before.equals(policy)) {
        throw new HeadwiseException(
            "plan "
                + planId
                + " gives the query heads of layer "
                + layer
                + ", kv head "
                + kv
                + " different policies; a KV cache is per kv head, so a decode graph needs one policy per kv head (plan"
                + " per kv head)");
      }
      // Budget heads of a layer share one group whatever their budgets (fewer, larger tensors: a
      // decode step of a small model costs per node, docs/results.md), if their recent counts and
      // merge agree; other policies group by every parameter.
      String group =
          kind == HeadwiseAttentionOp.KIND_BUDGET
              ? "b/" + plan.recentTokens()[h] + "/m" + plan.merge()[h]
              : policy;
      policyOfKv.putIfAbsent(kv, group);
      policyHead.putIfAbsent(kv, h);
      byPolicy.computeIfAbsent(group, k -> new ArrayList<>());
    }
    List<Integer> kvOrder = new ArrayList<>(policyOfKv.keySet());
    kvOrder.sort(null);
    for (int kv : kvOrder) {
      byPolicy.get(policyOfKv.get(kv)).add(kv);
    }
    List<DecodeCacheGroup> out = new ArrayList<>();
    for (Map.Entry<String, List<Integer>> e : byPolicy.entrySet()) {
      List<Integer> kvs = e.getValue();
      int h = policyHead.get(kvs.get(0));
      List<Integer> queries = new ArrayList<>();
      for (int q = 0; q < plan.numHeads(); q++) {
        if (kvs.contains((int) kvHeads[q])) {
          queries.add(q);
        }
      }
      int kind = (int) plan.kinds()[h];
      boolean windowed =
          kind == HeadwiseAttentionOp.KIND_STREAMING || kind == HeadwiseAttentionOp.KIND_ELASTIC;
      boolean budget = kind == HeadwiseAttentionOp.KIND_BUDGET;
      List<Long> budgets = new ArrayList<>();
      if (budget) {
        for (int kv : kvs) {
          budgets.add(plan.budgetTokens()[policyHead.get(kv)]);
        }
      }
      out.add(
          new DecodeCacheGroup(
              layer,
              out.size(),
              kind,
              windowed ? plan.sinkTokens()[h] : 0,
              windowed ? plan.alpha()[h] : 0f,
              windowed ? plan.beta()[h] : 0f,
              budgets,
              budget ? plan.recentTokens()[h] : 0,
              List.copyOf(kvs),
              List.copyOf(queries),
              windowed ? plan.compensation()[h] != 0 : budget && plan.merge()[h] != 0));
    }
    return out;
  }
}
