package io.headwise.profilers;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.Set;

/**
 * Sorts a graph's nodes topologically (stable: keeps the original order where dependencies allow);
 * a node depends on what its subgraphs read from the outer scope too.
 */
final class TopologicalOrder {
  private TopologicalOrder() {}

  static GraphProto sort(GraphProto graph) {
    List<NodeProto> nodes = graph.getNodeList();
    Map<String, Integer> producer = new HashMap<>();
    for (int i = 0; i < nodes.size(); i++) {
      for (String o : nodes.get(i).getOutputList()) {
        producer.put(o, i);
      }
    }
    int[] pending = new int[nodes.size()];
    Map<Integer, List<Integer>> dependents = new HashMap<>();
    for (int i = 0; i < nodes.size(); i++) {
      Set<Integer> deps = new HashSet<>();
      for (String in : GraphCleanup.reads(nodes.get(i))) {
        Integer p = producer.get(in);
        if (p != null && p != i) {
          deps.add(p);
        }
      }
      pending[i] = deps.size();
      for (int d : deps) {
        dependents.computeIfAbsent(d, k -> new ArrayList<>()).add(i);
      }
    }
    PriorityQueue<Integer> ready = new PriorityQueue<>();
    for (int i = 0; i < nodes.size(); i++) {
      if (pending[i] == 0) {
        ready.add(i);
      }
    }
    List<NodeProto> out = new ArrayList<>(nodes.size());
    while (!ready.isEmpty()) {
      int i = ready.poll();
      out.add(nodes.get(i));
      for (int d : dependents.getOrDefault(i, List.of())) {
        if (--pending[d] == 0) {
          ready.add(d);
        }
      }
    }
    if (out.size() != nodes.size()) {
      throw new IllegalStateException("graph has a cycle after rewriting");
    }
    return graph.toBuilder().clearNode().addAllNode(out).build();
  }
}
