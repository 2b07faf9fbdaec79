package io.headwise.export.quant.rotation;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import io.headwise.export.quant.rotation.ResidualStructure.Linear;
import io.headwise.export.quant.rotation.ResidualStructure.Matched;
import io.headwise.export.quant.rotation.ResidualStructure.Sublayer;
import io.headwise.graph.AttentionMap;
import io.headwise.graph.FunctionInliner;
import io.headwise.graph.GraphIndex;
import io.headwise.planners.quant.Hadamard;
import io.headwise.planners.quant.Rotation;
import io.headwise.planners.quant.Rotations;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * RSQ/QuaRot's "rotate" step as a graph rewrite of a Llama-family ONNX model, exact in full
 * precision:
 *
 * <ol>
 *   <li>every RMSNorm weight γ is folded into the linears reading the norm ({@code B ← diag(γ)·B})
 *       and set to 1;
 *   <li>the residual stream is rotated by a seeded random Hadamard Q of the hidden size
 *       (Haar-random orthogonal when no Hadamard of that order is constructible): embedding {@code
 *       E ← E·Q}, linears reading the stream (q, k, v, gate, up, LM head) {@code B ← Qᵀ·B}, linears
 *       writing it (o_proj, down_proj) {@code B ← B·Q}, their biases {@code b ← b·Q}; RMSNorm
 *       commutes with Q once weightless;
 *   <li>v_proj's output is rotated per kv head by a Hadamard {@code H_d} (fused offline), and
 *       o_proj's input gets the online transform across heads {@code H_heads ⊗ I_d}, so o_proj sees
 *       {@code z·(H_heads ⊗ H_d)} and stores {@code (H_heads ⊗ H_d)ᵀ·B·Q};
 *   <li>down_proj's input gets an online random Hadamard {@code H_I} of the intermediate size
 *       (inserted as graph nodes, see {@link OnlineTransform}) and stores {@code H_Iᵀ·B·Q}.
 * </ol>
 *
 * Tied embeddings: each reader of a shared initializer gets its own rotated copy (the LM head is
 * cloned). Unlike QuaRot, embedding rows are not mean-centred: that step only preserves outputs
 * under LayerNorm and would change an RMSNorm model. Weights must be embedded (load external data
 * first). Structures that do not fit (LayerNorm with bias, a stream read by something other than
 * norms and residual Adds, a norm read by non-linears) are refused with {@link
 * RotationRefusedException} naming the node.
 */
public final class ResidualStreamRotation {
  private static final String PREFIX = "hw/rotation/";

  private ResidualStreamRotation() {}

  /** Rotates {@code proto} (weights embedded) with Q drawn from {@code seed}. */
  public static RotatedModel rotate(ModelProto proto, AttentionMap map, long seed) {
    int opset = 0;
    for (OperatorSetIdProto o : proto.getOpsetImportList()) {
      if (o.getDomain().isEmpty() || o.getDomain().equals("ai.onnx")) {
        opset = (int) o.getVersion();
      }
    }
    ModelProto inlined = FunctionInliner.inline(proto);
    GraphProto graph = inlined.getGraph();
    Matched m = ResidualStructure.match(graph, map);
    if (opset < 13) {
      throw new RotationRefusedException(
          "the model imports ONNX opset "
              + opset
              + "; the rotation's online"
              + " transforms need opset 13 or later (re-export with a newer opset)");
    }
    GraphIndex index = new GraphIndex(graph);
    Rewrite rw = new Rewrite(graph, index);
    Rotation q = Rotations.orthogonal(m.hidden(), seed);
    List<String> folded = new ArrayList<>();
    List<String> online = new ArrayList<>();

    TensorProto embedding = index.initializer(m.embedding()).orElseThrow();
    rw.set(
        m.embeddingGather(),
        0,
        embedding,
        Rotations.multiplyRows(Weights.matrix(embedding), q),
        false);

    Map<Integer, Rotation> mlpRotations = new HashMap<>();
    Map<Integer, OnlineTransform> transforms = new HashMap<>();
    for (Sublayer s : m.sublayers()) {
      double[] gamma = foldNorm(rw, index, s.norm(), m.hidden(), folded);
      double[][] valueRotation = null;
      if (s.attention()) {
        valueRotation =
            Rotations.blockDiagonal(
                headRotation(s.block().headDim(), seed), s.block().numKvHeads());
      }
      for (Linear r : s.readers()) {
        double[][] b = Rotations.fuseInputRotationOnnx(scaleRows(rw.effective(r), gamma), q);
        if (r.equals(s.valueProjection())) {
          if (b[0].length != valueRotation.length) {
            throw new RotationRefusedException(
                "v projection "
                    + RmsNormMatch.name(graph.getNode(r.node()))
                    + " has "
                    + b[0].length
                    + " outputs, not kv_heads x head_dim = "
                    + valueRotation.length);
          }
          b = Rotations.multiply(b, valueRotation);
          if (r.bias() != null) {
            rw.setBias(
                r,
                Rotations.rotateBias(
                    Weights.values(index.initializer(r.bias()).orElseThrow()), valueRotation));
          }
        }
        rw.setLinear(r, b);
      }
      Linear w = s.writer();
      double[][] b = rw.effective(w);
      NodeProto writerNode = graph.getNode(w.node());
      int inner = b.length;
      int type = index.elemTypeOrFloat(writerNode.getInput(0)).code();
      OnlineTransform t = transforms.computeIfAbsent(type, ty -> new OnlineTransform(PREFIX, ty));
      String rotatedInput;
      if (s.attention()) {
        int heads = s.block().numHeads();
        int d = s.block().headDim();
        if (heads * d != inner) {
          throw new RotationRefusedException(
              "o projection "
                  + RmsNormMatch.name(writerNode)
                  + " reads "
                  + inner
                  + " values, not heads x head_dim = "
                  + heads * d);
        }
        double[][] acrossHeads = headRotation(heads, seed + 1);
        double[][] both = Hadamard.kronecker(acrossHeads, headRotation(d, seed));
        b = Rotations.multiplyTransposedLeft(both, b);
        rotatedInput = t.acrossHeads(writerNode.getInput(0), acrossHeads, d);
        online.add(
            "before "
                + RmsNormMatch.name(writerNode)
                + ": across "
                + heads
                + " heads of "
                + d
                + " (o_proj input sees (H_heads x H_d), H_d fused into v_proj)");
      } else {
        Rotation hi = mlpRotations.computeIfAbsent(inner, n -> Rotations.orthogonal(n, seed + 2));
        b = Rotations.multiplyTransposedLeft(hi, b);
        rotatedInput = t.rotation(writerNode.getInput(0), hi);
        online.add(
            "before "
                + RmsNormMatch.name(writerNode)
                + ": "
                + hi.construction().name().toLowerCase()
                + " of order "
                + inner);
      }
      rw.insertBefore(w.node(), t.takeNodes(), rotatedInput);
      rw.setLinear(w, Rotations.multiplyRows(b, q));
      if (w.bias() != null) {
        rw.setBias(
            w, Rotations.rotateBias(Weights.values(index.initializer(w.bias()).orElseThrow()), q));
      }
    }
    double[] gamma = foldNorm(rw, index, m.finalNorm(), m.hidden(), folded);
    for (Linear head : m.heads()) {
      rw.setLinear(head, Rotations.fuseInputRotationOnnx(scaleRows(rw.effective(head), gamma), q));
    }
    ModelProto out = inlined.toBuilder().setGraph(rw.build()).build();
    return new RotatedModel(
        out, m.hidden(), q.construction().name(), seed, List.copyOf(folded), List.copyOf(online));
  }

  /** γ of a norm (ones when weightless); the norm's weight becomes all ones. */
  private static double[] foldNorm(
      Rewrite rw, GraphIndex index, RmsNormMatch norm, int hidden, List<String> folded) {
    double[] gamma = new double[hidden];
    Arrays.fill(gamma, 1);
    if (norm.weight() != null) {
      TensorProto w = index.initializer(norm.weight()).orElseThrow();
      gamma = Weights.values(w);
      double[] ones = new double[hidden];
      Arrays.fill(ones, 1);
      rw.replaceInPlace(w, ones);
      folded.add(norm.weight());
    }
    return gamma;
  }

  /**
   * An orthogonal matrix of order n: the normalized Hadamard when constructible, else a seeded
   * Haar-random one.
   */
  private static double[][] headRotation(int n, long seed) {
    if (Hadamard.factor(n).isPresent()) {
      return Hadamard.normalized(n);
    }
    return Rotations.randomOrthogonal(n, seed + n);
  }

  private static double[][] scaleRows(double[][] b, double[] gamma) {
    double[][] out = new double[b.length][];
    for (int i = 0; i < b.length; i++) {
      out[i] = b[i].clone();
      for (int j = 0; j < out[i].length; j++) {
        out[i][j] *= gamma[i];
      }
    }
    return out;
  }

  /** Collects initializer replacements and node insertions, then builds the new graph. */
  private static final class Rewrite {
    private final GraphProto graph;
    private final GraphIndex index;
    private final Map<String, TensorProto> replaced = new LinkedHashMap<>();
    private final List<TensorProto> added = new ArrayList<>();
    private final Map<Integer, Map<Integer, String>> rewired = new HashMap<>();
    private final Map<Integer, List<NodeProto>> insertions = new HashMap<>();
    private final Set<String> names = new HashSet<>();
    private final Map<String, Integer> useCounts = new HashMap<>();

    Rewrite(GraphProto graph, GraphIndex index) {
      this.graph = graph;
      this.index = index;
      for (TensorProto t : graph.getInitializerList()) {
        names.add(t.getName());
      }
      for (NodeProto n : graph.getNodeList()) {
        names.addAll(n.getOutputList());
        for (String in : n.getInputList()) {
          useCounts.merge(in, 1, Integer::sum);
        }
      }
    }

    /** A linear's weight in {@code [in, out]} orientation (the original values). */
    double[][] effective(Linear l) {
      double[][] stored = Weights.matrix(index.initializer(l.weightInitializer()).orElseThrow());
      return l.storedOutIn() ? OnlineTransform.transpose(stored) : stored;
    }

    /** Sets a linear's weight from {@code [in, out]} values, keeping its storage orientation. */
    void setLinear(Linear l, double[][] inOut) {
      TensorProto like = index.initializer(l.weightInitializer()).orElseThrow();
      NodeProto node = graph.getNode(l.node());
      boolean viaTranspose = !node.getInput(l.weightSlot()).equals(l.weightInitializer());
      if (viaTranspose) {
        // a tied LM head reading Transpose(E): give it its own [in, out] initializer
        set(l.node(), l.weightSlot(), like, inOut, true);
      } else {
        set(
            l.node(),
            l.weightSlot(),
            like,
            l.storedOutIn() ? OnlineTransform.transpose(inOut) : inOut,
            false);
      }
    }

    void setBias(Linear l, double[] values) {
      TensorProto like = index.initializer(l.bias()).orElseThrow();
      NodeProto add = graph.getNode(l.biasNode());
      int slot = add.getInput(0).equals(l.bias()) ? 0 : 1;
      TensorProto t = Weights.withValues(like, like.getName(), values);
      assign(l.biasNode(), slot, like.getName(), t, false);
    }

    /**
     * Node {@code node}'s input {@code slot} gets {@code values} (shaped like a 2-D tensor of
     * {@code like}'s type).
     */
    void set(int node, int slot, TensorProto like, double[][] values, boolean forceNew) {
      assign(
          node, slot, like.getName(), Weights.withMatrix(like, like.getName(), values), forceNew);
    }

    private void assign(int node, int slot, String original, TensorProto t, boolean forceNew) {
      if (!forceNew
          && useCounts.getOrDefault(original, 0) == 1
          && !replaced.containsKey(original)) {
        replaced.put(original, t);
        return;
      }
      String name = fresh(original + "/hw_rotated");
      added.add(t.toBuilder().setName(name).build());
      rewired.computeIfAbsent(node, k -> new HashMap<>()).put(slot, name);
    }

    void replaceInPlace(TensorProto t, double[] values) {
      replaced.put(t.getName(), Weights.withValues(t, t.getName(), values));
    }

    void insertBefore(int node, List<NodeProto> nodes, String newInput) {
      insertions.computeIfAbsent(node, k -> new ArrayList<>()).addAll(nodes);
      rewired.computeIfAbsent(node, k -> new HashMap<>()).put(0, newInput);
    }

    private String fresh(String base) {
      String name = base;
      for (int i = 1; names.contains(name); i++) {
        name = base + "_" + i;
      }
      names.add(name);
      return name;
    }

    GraphProto build() {
      List<NodeProto> nodes = new ArrayList<>();
      for (int i = 0; i < graph.getNodeCount(); i++) {
        nodes.addAll(insertions.getOrDefault(i, List.of()));
        NodeProto n = graph.getNode(i);
        Map<Integer, String> slots = rewired.get(i);
        if (slots != null) {
          NodeProto.Builder nb = n.toBuilder();
          slots.forEach(nb::setInput);
          n = nb.build();
        }
        nodes.add(n);
      }
      Set<String> read = new HashSet<>();
      nodes.forEach(n -> read.addAll(n.getInputList()));
      graph.getOutputList().forEach(o -> read.add(o.getName()));
      // a tied weight's Transpose that no longer feeds anything
      nodes.removeIf(
          n ->
              n.getOpType().equals("Transpose")
                  && n.getOutputCount() == 1
                  && !read.contains(n.getOutput(0))
                  && index.isInitializer(n.getInput(0)));
      Set<String> used = new HashSet<>();
      nodes.forEach(n -> used.addAll(n.getInputList()));
      graph.getOutputList().forEach(o -> used.add(o.getName()));
      GraphProto.Builder b = graph.toBuilder().clearNode().clearInitializer().addAllNode(nodes);
      Set<String> dropped = new HashSet<>();
      for (TensorProto t : graph.getInitializerList()) {
        if (used.contains(t.getName())) {
          b.addInitializer(replaced.getOrDefault(t.getName(), t));
        } else {
          dropped.add(t.getName());
        }
      }
      b.addAllInitializer(added);
      for (int i = b.getInputCount() - 1; i >= 0; i--) {
        if (dropped.contains(b.getInput(i).getName())) {
          b.removeInput(i);
        }
      }
      return b.build();
    }
  }
}
