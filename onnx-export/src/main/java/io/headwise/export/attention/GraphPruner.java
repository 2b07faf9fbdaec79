package io.headwise.export.attention;

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
 * Removes what a rewrite left unused from a topologically sorted graph: nodes none of whose outputs
 * is read (by a later node, a subgraph of one, or a graph output), initializers nothing reads
 * (unless they are graph inputs), and value_info of tensors that no longer exist.
 */
final class GraphPruner {
  private GraphPruner() {}

  static void prune(GraphProto.Builder g) {
    Set<String> used = new HashSet<>();
    for (ValueInfoProto o : g.getOutputList()) {
      used.add(o.getName());
    }
    List<NodeProto> kept = new ArrayList<>();
    for (int i = g.getNodeCount() - 1; i >= 0; i--) {
      NodeProto n = g.getNode(i);
      boolean live = false;
      for (String o : n.getOutputList()) {
        if (!o.isEmpty() && used.contains(o)) {
          live = true;
          break;
        }
      }
      if (live) {
        kept.add(n);
        reads(n, used);
      }
    }
    Collections.reverse(kept);
    Set<String> inputs = new HashSet<>();
    for (ValueInfoProto v : g.getInputList()) {
      inputs.add(v.getName());
    }
    List<TensorProto> initializers = new ArrayList<>();
    for (TensorProto t : g.getInitializerList()) {
      if (used.contains(t.getName()) || inputs.contains(t.getName())) {
        initializers.add(t);
      }
    }
    Set<String> produced = new HashSet<>(inputs);
    for (NodeProto n : kept) {
      produced.addAll(n.getOutputList());
    }
    List<ValueInfoProto> infos = new ArrayList<>();
    for (ValueInfoProto v : g.getValueInfoList()) {
      if (produced.contains(v.getName())) {
        infos.add(v);
      }
    }
    g.clearNode()
        .addAllNode(kept)
        .clearInitializer()
        .addAllInitializer(initializers)
        .clearValueInfo()
        .addAllValueInfo(infos);
  }

  /** Adds every name {@code n} reads, including outer-scope names read inside its subgraphs. */
  private static void reads(NodeProto n, Set<String> used) {
    for (String in : n.getInputList()) {
      if (!in.isEmpty()) {
        used.add(in);
      }
    }
    for (AttributeProto a : n.getAttributeList()) {
      if (a.hasG()) {
        readsIn(a.getG(), used);
      }
      for (GraphProto sub : a.getGraphsList()) {
        readsIn(sub, used);
      }
    }
  }

  private static void readsIn(GraphProto sub, Set<String> used) {
    for (NodeProto n : sub.getNodeList()) {
      reads(n, used);
    }
    for (ValueInfoProto o : sub.getOutputList()) {
      used.add(o.getName());
    }
  }
}
