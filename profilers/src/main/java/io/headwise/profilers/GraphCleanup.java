package io.headwise.profilers;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * After the tiled core replaced attention cores: restores topological order (loops read outer-scope
 * tensors that were appended after them), keeps only the graph outputs the statistics need (the
 * model's own outputs, e.g. logits of T × vocabulary, are not fetched and would cost memory), and
 * removes every node nothing reads any more (the model's score paths, softmaxes and T × T masks of
 * the tiled layers).
 */
final class GraphCleanup {
  private GraphCleanup() {}

  static GraphProto pruneAndSort(GraphProto graph, Set<String> keepOutputs) {
    GraphProto.Builder g = TopologicalOrder.sort(graph).toBuilder();
    List<ValueInfoProto> outputs = new ArrayList<>();
    for (ValueInfoProto o : g.getOutputList()) {
      if (keepOutputs.contains(o.getName())) {
        outputs.add(o);
      }
    }
    g.clearOutput().addAllOutput(outputs);
    Set<String> used = new HashSet<>();
    outputs.forEach(o -> used.add(o.getName()));
    List<NodeProto> kept = new ArrayList<>();
    for (int i = g.getNodeCount() - 1; i >= 0; i--) {
      NodeProto n = g.getNode(i);
      boolean live = false;
      for (String o : n.getOutputList()) {
        live |= !o.isEmpty() && used.contains(o);
      }
      if (live) {
        kept.add(n);
        used.addAll(reads(n));
      }
    }
    Collections.reverse(kept);
    Set<String> inputs = new HashSet<>();
    g.getInputList().forEach(v -> inputs.add(v.getName()));
    List<TensorProto> initializers = new ArrayList<>();
    for (TensorProto t : g.getInitializerList()) {
      if (used.contains(t.getName()) || inputs.contains(t.getName())) {
        initializers.add(t);
      }
    }
    Set<String> produced = new HashSet<>(inputs);
    kept.forEach(n -> produced.addAll(n.getOutputList()));
    List<ValueInfoProto> infos = new ArrayList<>();
    for (ValueInfoProto v : g.getValueInfoList()) {
      if (produced.contains(v.getName())) {
        infos.add(v);
      }
    }
    return g.clearNode()
        .addAllNode(kept)
        .clearInitializer()
        .addAllInitializer(initializers)
        .clearValueInfo()
        .addAllValueInfo(infos)
        .build();
  }

  /**
   * Every tensor name a node reads, including those its subgraphs (loop bodies) read from outer
   * scopes.
   */
  static Set<String> reads(NodeProto n) {
    Set<String> out = new HashSet<>(n.getInputList());
    for (AttributeProto a : n.getAttributeList()) {
      if (a.hasG()) {
        subgraphReads(a.getG(), out);
      }
      for (GraphProto sub : a.getGraphsList()) {
        subgraphReads(sub, out);
      }
    }
    out.remove("");
    return out;
  }

  private static void subgraphReads(GraphProto sub, Set<String> out) {
    for (NodeProto n : sub.getNodeList()) {
      out.addAll(reads(n));
    }
  }
}
