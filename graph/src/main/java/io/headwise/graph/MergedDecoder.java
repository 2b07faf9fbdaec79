package io.headwise.graph;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import io.headwise.schemas.HeadwiseException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * A decoder whose two paths sit under one {@code If}, as Hugging Face Optimum writes {@code
 * decoder_model_merged.onnx}: a boolean graph input ({@code use_cache_branch}) selects the branch
 * that reads {@code past_key_values.*} (the cache branch) or the branch that computes the whole
 * sequence without them (the no-cache branch); the weights are initializers of the main graph that
 * both branches read from the outer scope.
 *
 * <p>headwise works on one branch at a time, as a plain graph: {@link #view} inlines the chosen
 * branch in place of the {@code If} (its outputs renamed to the {@code If}'s, its initializers and
 * value infos moved up) and drops the condition and the graph inputs the branch never reads. Every
 * step reads the no-cache view ({@link OnnxModel#load(java.nio.file.Path)}), so profile, plan,
 * export and evaluate see a prefill model; {@code export --decode}, {@code evaluate --decode} and
 * {@code generate} read the cache view ({@link OnnxModel#cacheBranch()}). What {@code export}
 * writes is therefore the no-cache branch with the plan applied, a standalone decoder without past
 * inputs (Optimum's non-merged {@code decoder_model.onnx}); {@code export --decode} writes the
 * cache branch as a plan-shaped decoder with past inputs.
 *
 * <p>The branch that reads more graph inputs is the cache branch (it reads every input the other
 * reads, plus the past). The two branches must agree on attention structure: the same number of
 * attention cores (Softmax nodes and fused attention operators); a file whose branches disagree is
 * refused, since a plan made on one could not describe the other.
 */
public final class MergedDecoder {
  /** Which path of a merged decoder a view holds. */
  public enum Branch {
    NO_CACHE,
    CACHE
  }

  private static final Set<String> FUSED_ATTENTION =
      Set.of("GroupQueryAttention", "Attention", "MultiHeadAttention");

  private final ModelProto proto;
  private final int ifIndex;
  private final GraphProto cache;
  private final GraphProto noCache;

  private MergedDecoder(ModelProto proto, int ifIndex, GraphProto cache, GraphProto noCache) {
    this.proto = proto;
    this.ifIndex = ifIndex;
    this.cache = cache;
    this.noCache = noCache;
  }

  /**
   * The merged structure of {@code proto}: exactly one main-graph {@code If} whose condition is a
   * boolean graph input and whose branches hold attention; empty for any other model.
   */
  static Optional<MergedDecoder> find(ModelProto proto, String source) {
    GraphProto g = proto.getGraph();
    Set<String> boolInputs = new HashSet<>();
    for (ValueInfoProto in : g.getInputList()) {
      if (in.getType().getTensorType().getElemType() == TensorProto.DataType.BOOL_VALUE) {
        boolInputs.add(in.getName());
      }
    }
    List<Integer> candidates = new ArrayList<>();
    for (int i = 0; i < g.getNodeCount(); i++) {
      NodeProto n = g.getNode(i);
      if (n.getOpType().equals("If")
          && n.getDomain().isEmpty()
          && boolInputs.contains(n.getInput(0))
          && attentionCores(branch(n, "then_branch")) + attentionCores(branch(n, "else_branch"))
              > 0) {
        candidates.add(i);
      }
    }
    if (candidates.isEmpty()) {
      return Optional.empty();
    }
    if (candidates.size() > 1) {
      throw new HeadwiseException(
          "model "
              + source
              + " has "
              + candidates.size()
              + " If nodes on boolean inputs whose branches hold attention; headwise reads a merged"
              + " decoder with one (Optimum's use_cache_branch): export the decoder with one If or"
              + " none");
    }
    int at = candidates.get(0);
    NodeProto n = g.getNode(at);
    GraphProto then = branch(n, "then_branch");
    GraphProto other = branch(n, "else_branch");
    int thenCores = attentionCores(then);
    int elseCores = attentionCores(other);
    if (thenCores != elseCores) {
      throw new HeadwiseException(
          "merged decoder "
              + source
              + ": the branches of the If on '"
              + n.getInput(0)
              + "' disagree on attention structure (then_branch: "
              + thenCores
              + " attention cores, else_branch: "
              + elseCores
              + "); a plan for one could not describe the other: export both paths from the same"
              + " model");
    }
    Set<String> inputs = new HashSet<>();
    g.getInputList().forEach(v -> inputs.add(v.getName()));
    inputs.remove(n.getInput(0));
    Set<String> thenReads = outerReads(then);
    thenReads.retainAll(inputs);
    Set<String> elseReads = outerReads(other);
    elseReads.retainAll(inputs);
    if (thenReads.containsAll(elseReads) && thenReads.size() > elseReads.size()) {
      return Optional.of(new MergedDecoder(proto, at, then, other));
    }
    if (elseReads.containsAll(thenReads) && elseReads.size() > thenReads.size()) {
      return Optional.of(new MergedDecoder(proto, at, other, then));
    }
    throw new HeadwiseException(
        "merged decoder "
            + source
            + ": neither branch of the If on '"
            + n.getInput(0)
            + "' reads the graph inputs of the other plus the past (then_branch reads "
            + thenReads
            + ", else_branch "
            + elseReads
            + "), so headwise cannot tell the cache branch; export the decoder without past"
            + " (decoder_model.onnx) and the one with past separately");
  }

  /** The model with {@code branch} inlined in place of the If (see class doc). */
  ModelProto view(Branch branch) {
    GraphProto g = proto.getGraph();
    NodeProto ifNode = g.getNode(ifIndex);
    GraphProto b = branch == Branch.CACHE ? cache : noCache;
    Map<String, String> rename = new HashMap<>();
    Set<String> produced = new HashSet<>();
    b.getNodeList().forEach(n -> produced.addAll(n.getOutputList()));
    List<NodeProto> passThrough = new ArrayList<>();
    for (int i = 0; i < b.getOutputCount(); i++) {
      String inner = b.getOutput(i).getName();
      String outer = i < ifNode.getOutputCount() ? ifNode.getOutput(i) : "";
      if (outer.isEmpty()) {
        continue;
      }
      if (produced.contains(inner) && !rename.containsKey(inner)) {
        rename.put(inner, outer);
      } else {
        passThrough.add(
            NodeProto.newBuilder()
                .setOpType("Identity")
                .setName("merged_output_" + i)
                .addInput(rename.getOrDefault(inner, inner))
                .addOutput(outer)
                .build());
      }
    }
    GraphProto.Builder out = g.toBuilder().clearNode().clearInput().clearValueInfo();
    for (int i = 0; i < g.getNodeCount(); i++) {
      if (i != ifIndex) {
        out.addNode(g.getNode(i));
        continue;
      }
      for (NodeProto n : b.getNodeList()) {
        out.addNode(renamed(n, rename));
      }
      out.addAllNode(passThrough);
    }
    out.addAllInitializer(b.getInitializerList());
    Set<String> read = new HashSet<>();
    out.getNodeList().forEach(n -> read.addAll(n.getInputList()));
    out.getNodeList().forEach(n -> read.addAll(outerReads(n)));
    g.getOutputList().forEach(v -> read.add(v.getName()));
    for (ValueInfoProto in : g.getInputList()) {
      if (read.contains(in.getName())) {
        out.addInput(in);
      }
    }
    out.addAllValueInfo(g.getValueInfoList());
    for (ValueInfoProto v : b.getValueInfoList()) {
      out.addValueInfo(v.toBuilder().setName(rename.getOrDefault(v.getName(), v.getName())));
    }
    return proto.toBuilder().setGraph(out).build();
  }

  private static NodeProto renamed(NodeProto n, Map<String, String> rename) {
    NodeProto.Builder r = n.toBuilder();
    for (int i = 0; i < n.getInputCount(); i++) {
      r.setInput(i, rename.getOrDefault(n.getInput(i), n.getInput(i)));
    }
    for (int i = 0; i < n.getOutputCount(); i++) {
      r.setOutput(i, rename.getOrDefault(n.getOutput(i), n.getOutput(i)));
    }
    return r.build();
  }

  private static GraphProto branch(NodeProto ifNode, String name) {
    for (AttributeProto a : ifNode.getAttributeList()) {
      if (a.getName().equals(name)) {
        return a.getG();
      }
    }
    return GraphProto.getDefaultInstance();
  }

  /** Softmax nodes and fused attention operators of a graph and its subgraphs. */
  private static int attentionCores(GraphProto g) {
    int n = 0;
    for (NodeProto node : g.getNodeList()) {
      if (node.getOpType().equals("Softmax") || FUSED_ATTENTION.contains(node.getOpType())) {
        n++;
      }
      for (AttributeProto a : node.getAttributeList()) {
        if (a.hasG()) {
          n += attentionCores(a.getG());
        }
      }
    }
    return n;
  }

  /** Names a graph reads that it neither produces nor declares (its outer-scope reads). */
  private static Set<String> outerReads(GraphProto g) {
    Set<String> local = new HashSet<>();
    g.getInputList().forEach(v -> local.add(v.getName()));
    g.getInitializerList().forEach(t -> local.add(t.getName()));
    g.getNodeList().forEach(n -> local.addAll(n.getOutputList()));
    Set<String> reads = new LinkedHashSet<>();
    for (NodeProto n : g.getNodeList()) {
      reads.addAll(n.getInputList());
      reads.addAll(outerReads(n));
    }
    reads.removeAll(local);
    reads.remove("");
    return reads;
  }

  /** What the subgraphs of a node read from outside themselves. */
  private static Set<String> outerReads(NodeProto n) {
    Set<String> reads = new HashSet<>();
    for (AttributeProto a : n.getAttributeList()) {
      if (a.hasG()) {
        reads.addAll(outerReads(a.getG()));
      }
    }
    return reads;
  }
}
