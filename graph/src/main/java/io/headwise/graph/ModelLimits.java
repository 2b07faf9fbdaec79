package io.headwise.graph;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import java.util.ArrayDeque;
import java.util.HashSet;
import java.util.Optional;
import java.util.Set;

/**
 * Input limits a graph declares implicitly: the vocabulary size (rows of the token embedding table)
 * and the maximum sequence length (rows of a learned position embedding table). Either is -1 when
 * the graph does not say.
 */
public record ModelLimits(long vocabSize, long maxPositions) {
  private static final Set<String> PASS_THROUGH =
      Set.of("Cast", "Unsqueeze", "Reshape", "Identity", "Squeeze", "Flatten");

  /** Reads the limits from the graph structure. */
  public static ModelLimits of(GraphProto graph, ModelInputs inputs) {
    GraphIndex idx = new GraphIndex(graph);
    Set<String> idDerived = derived(idx, inputs.inputIds());
    Set<String> typeDerived = inputs.tokenTypeIds().map(t -> derived(idx, t)).orElse(Set.of());
    long vocab = -1;
    long positions = -1;
    for (NodeProto n : graph.getNodeList()) {
      if (!n.getOpType().equals("Gather") || n.getInputCount() < 2) {
        continue;
      }
      Optional<TensorProto> table = idx.initializer(n.getInput(0));
      if (table.isEmpty() || table.get().getDimsCount() != 2) {
        continue;
      }
      long rows = table.get().getDims(0);
      if (idDerived.contains(n.getInput(1))) {
        if (vocab < 0) {
          vocab = rows;
        }
      } else if (!typeDerived.contains(n.getInput(1)) && rows >= 16 && positions < 0) {
        positions = rows;
      }
    }
    return new ModelLimits(vocab, positions);
  }

  private static Set<String> derived(GraphIndex idx, String input) {
    Set<String> out = new HashSet<>();
    ArrayDeque<String> todo = new ArrayDeque<>();
    todo.add(input);
    out.add(input);
    while (!todo.isEmpty()) {
      String t = todo.poll();
      for (NodeProto c : idx.consumers(t)) {
        if (PASS_THROUGH.contains(c.getOpType()) && c.getInput(0).equals(t)) {
          for (String o : c.getOutputList()) {
            if (out.add(o)) {
              todo.add(o);
            }
          }
        }
      }
    }
    return out;
  }
}
