package io.headwise.profilers.quant;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import io.headwise.graph.AttentionBlock;
import io.headwise.graph.AttentionMap;
import io.headwise.graph.ElementType;
import io.headwise.graph.GraphIndex;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Finds the linear layers inside the transformer blocks of a graph: the ones to quantize.
 *
 * <p>A candidate is a {@code MatMul} (or a {@code Gemm} with {@code alpha = 1}, {@code transA = 0})
 * whose second input is a 2-D float32/float16 initializer. A candidate <em>writes the residual
 * stream</em> when its output reaches, without passing another candidate, an {@code Add} whose
 * other operand is a softmax-free ancestor of the candidate's own input: the residual the branch
 * started from (o_proj, down_proj, BERT's attention-output and FFN-output dense). A candidate is
 * inside a block when it writes the residual stream or feeds, through the branch, a candidate that
 * is (q/k/v feed o_proj, gate/up feed down_proj). Embeddings (a {@code Gather}, not a linear), the
 * LM head and a pooler (their outputs never return to the residual stream) are therefore excluded.
 * "Softmax-free ancestor" means reachable backwards without crossing a {@code Softmax}; that keeps
 * the attention mask, which only feeds scores, from looking like a residual. Shape computations
 * ({@code Shape}, {@code Size}) are not followed either way.
 *
 * <p>Each layer belongs to the attention block it feeds (q/k/v reach that block's softmax or P·V)
 * or else to the last block whose probabilities precede it (o_proj and the MLP).
 */
public final class LinearLayers {
  private static final Set<String> SHAPE_OPS = Set.of("Shape", "Size");

  private final GraphProto graph;
  private final GraphIndex index;
  private final AttentionMap map;
  private final Map<String, Set<String>> ancestorCache = new HashMap<>();

  private LinearLayers(GraphProto graph, AttentionMap map) {
    this.graph = graph;
    this.index = new GraphIndex(graph);
    this.map = map;
  }

  /** The linear layers inside the transformer blocks, in graph order. */
  public static List<LinearLayer> find(GraphProto graph, AttentionMap map) {
    return new LinearLayers(graph, map).find();
  }

  /** Groups layers by their input tensor, in order of first appearance. */
  public static List<HessianGroup> groups(List<LinearLayer> layers) {
    Map<String, List<LinearLayer>> byInput = new LinkedHashMap<>();
    for (LinearLayer l : layers) {
      byInput.computeIfAbsent(l.inputTensor(), k -> new ArrayList<>()).add(l);
    }
    List<HessianGroup> out = new ArrayList<>();
    for (List<LinearLayer> members : byInput.values()) {
      LinearLayer first = members.get(0);
      out.add(
          new HessianGroup(
              out.size(), first.inputTensor(), first.inFeatures(), first.layer(), members));
    }
    return out;
  }

  private List<LinearLayer> find() {
    Map<String, Integer> candidateByOutput = new LinkedHashMap<>();
    for (int i = 0; i < graph.getNodeCount(); i++) {
      NodeProto n = graph.getNode(i);
      if (isCandidate(n)) {
        candidateByOutput.put(n.getOutput(0), i);
      }
    }
    Map<String, Integer> blockByScores = new HashMap<>();
    Map<String, Integer> blockByPvOutput = new HashMap<>();
    for (AttentionBlock b : map.blocks()) {
      blockByScores.put(b.scoresTensor(), b.layer());
      blockByPvOutput.put(b.outputTensor(), b.layer());
    }
    Map<String, Walk> walks = new LinkedHashMap<>();
    for (Map.Entry<String, Integer> c : candidateByOutput.entrySet()) {
      walks.put(
          c.getKey(),
          walk(graph.getNode(c.getValue()), candidateByOutput, blockByScores, blockByPvOutput));
    }
    Set<String> inside = new HashSet<>();
    for (Map.Entry<String, Walk> e : walks.entrySet()) {
      if (e.getValue().writesResidual) {
        inside.add(e.getKey());
      }
    }
    boolean changed = true;
    while (changed) {
      changed = false;
      for (Map.Entry<String, Walk> e : walks.entrySet()) {
        if (!inside.contains(e.getKey())
            && e.getValue().feeds.stream().anyMatch(inside::contains)) {
          inside.add(e.getKey());
          changed = true;
        }
      }
    }
    List<LinearLayer> out = new ArrayList<>();
    for (Map.Entry<String, Integer> c : candidateByOutput.entrySet()) {
      if (!inside.contains(c.getKey())) {
        continue;
      }
      NodeProto n = graph.getNode(c.getValue());
      Walk w = walks.get(c.getKey());
      int layer = w.fedBlock >= 0 ? w.fedBlock : lastPrecedingBlock(n.getInput(0));
      if (layer < 0) {
        continue;
      }
      TensorProto weight = index.initializer(n.getInput(1)).orElseThrow();
      boolean outIn = n.getOpType().equals("Gemm") && GraphIndex.intAttribute(n, "transB", 0) != 0;
      int k = (int) weight.getDims(outIn ? 1 : 0);
      int nOut = (int) weight.getDims(outIn ? 0 : 1);
      out.add(
          new LinearLayer(
              n.getOutput(0),
              n.getName(),
              n.getOpType(),
              n.getInput(0),
              n.getInput(1),
              k,
              nOut,
              outIn,
              layer,
              w.writesResidual));
    }
    return out;
  }

  private boolean isCandidate(NodeProto n) {
    boolean matMul = n.getOpType().equals("MatMul") && n.getInputCount() == 2;
    boolean gemm =
        n.getOpType().equals("Gemm")
            && n.getInputCount() >= 2
            && GraphIndex.intAttribute(n, "transA", 0) == 0
            && floatAttribute(n, "alpha", 1f) == 1f;
    if (!(matMul || gemm) || !n.getDomain().isEmpty() && !n.getDomain().equals("ai.onnx")) {
      return false;
    }
    if (index.isGraphInput(n.getInput(1))) {
      return false;
    }
    return index
        .initializer(n.getInput(1))
        .map(
            t ->
                t.getDimsCount() == 2
                    && (t.getDataType() == ElementType.FLOAT.code()
                        || t.getDataType() == ElementType.FLOAT16.code()
                        || t.getDataType() == ElementType.BFLOAT16.code()))
        .orElse(false);
  }

  /** What a forward walk from a candidate's output finds before the next candidate. */
  private static final class Walk {
    boolean writesResidual;
    int fedBlock = -1;
    final Set<String> feeds = new HashSet<>();
  }

  private Walk walk(
      NodeProto start,
      Map<String, Integer> candidates,
      Map<String, Integer> blockByScores,
      Map<String, Integer> blockByPvOutput) {
    Walk w = new Walk();
    Set<String> ancestors = null;
    Deque<String> queue = new ArrayDeque<>();
    Set<String> seen = new HashSet<>();
    queue.add(start.getOutput(0));
    seen.add(start.getOutput(0));
    while (!queue.isEmpty()) {
      String t = queue.poll();
      for (NodeProto n : index.consumers(t)) {
        if (SHAPE_OPS.contains(n.getOpType())) {
          continue;
        }
        if (n.getOutputCount() > 0 && candidates.containsKey(n.getOutput(0))) {
          w.feeds.add(n.getOutput(0));
          continue;
        }
        if (n.getOpType().equals("Add") && n.getInputCount() == 2) {
          String other = n.getInput(0).equals(t) ? n.getInput(1) : n.getInput(0);
          if (ancestors == null) {
            ancestors = softmaxFreeAncestors(start.getInput(0));
          }
          if (ancestors.contains(other)) {
            w.writesResidual = true;
            continue;
          }
        }
        if (n.getOpType().equals("Softmax")
            && blockByScores.containsKey(n.getInput(0))
            && w.fedBlock < 0) {
          w.fedBlock = blockByScores.get(n.getInput(0));
        }
        for (String o : n.getOutputList()) {
          if (w.fedBlock < 0 && blockByPvOutput.containsKey(o)) {
            w.fedBlock = blockByPvOutput.get(o);
          }
          if (!o.isEmpty() && seen.add(o)) {
            queue.add(o);
          }
        }
      }
    }
    return w;
  }

  /** The last block whose probabilities tensor is an ancestor of {@code tensor}, or -1. */
  private int lastPrecedingBlock(String tensor) {
    Set<String> anc = softmaxFreeAncestors(tensor);
    int last = -1;
    for (AttentionBlock b : map.blocks()) {
      if (anc.contains(b.probabilitiesTensor())) {
        last = Math.max(last, b.layer());
      }
    }
    return last;
  }

  /**
   * Tensors {@code tensor} depends on, walking producers but not through Softmax, Shape or Size
   * nodes.
   */
  private Set<String> softmaxFreeAncestors(String tensor) {
    return ancestorCache.computeIfAbsent(
        tensor,
        k -> {
          Set<String> seen = new HashSet<>();
          Deque<String> queue = new ArrayDeque<>();
          seen.add(tensor);
          queue.add(tensor);
          while (!queue.isEmpty()) {
            String t = queue.poll();
            int p = index.producerIndex(t);
            if (p < 0) {
              continue;
            }
            NodeProto n = index.node(p);
            if (n.getOpType().equals("Softmax") || SHAPE_OPS.contains(n.getOpType())) {
              continue;
            }
            for (String in : n.getInputList()) {
              if (!in.isEmpty() && !index.isInitializer(in) && seen.add(in)) {
                queue.add(in);
              }
            }
          }
          return seen;
        });
  }

  private static float floatAttribute(NodeProto node, String name, float fallback) {
    for (var a : node.getAttributeList()) {
      if (a.getName().equals(name)) {
        return a.getF();
      }
    }
    return fallback;
  }
}
