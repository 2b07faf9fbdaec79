package io.headwise.graph;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.FunctionProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import io.headwise.schemas.HeadwiseException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Inlines calls to model-local functions ({@code ModelProto.functions}, as the dynamo exporter can
 * emit them) into the main graph, recursively, so that pattern matching sees plain nodes. Attribute
 * references ({@code ref_attr_name}) take the call site's value, else the function's default, else
 * are dropped, as ONNX Runtime does. Functions left without callers are removed from the model.
 *
 * <p>Then the supported fused attention operators are expanded into decomposed cores ({@link
 * FusedAttention}), so that every reader of the inlined graph (locator, statistics, export,
 * quantization) sees explicit attention.
 */
public final class FunctionInliner {
  private static final int MAX_DEPTH = 32;

  private final Map<String, FunctionProto> functions = new HashMap<>();
  private int counter;

  private FunctionInliner(ModelProto model) {
    for (FunctionProto f : model.getFunctionsList()) {
      functions.put(key(f.getDomain(), f.getName(), f.getOverload()), f);
    }
  }

  /**
   * The model with every call of a local function replaced by the function body and every supported
   * fused attention op expanded.
   */
  public static ModelProto inline(ModelProto model) {
    return FusedAttention.expand(inlineFunctions(model));
  }

  private static ModelProto inlineFunctions(ModelProto model) {
    if (model.getFunctionsCount() == 0) {
      return model;
    }
    FunctionInliner inliner = new FunctionInliner(model);
    List<NodeProto> nodes = new ArrayList<>();
    for (NodeProto n : model.getGraph().getNodeList()) {
      inliner.expand(n, nodes, 0);
    }
    GraphProto graph = model.getGraph().toBuilder().clearNode().addAllNode(nodes).build();
    ModelProto.Builder b = model.toBuilder().setGraph(graph).clearFunctions();
    Set<String> domains = new HashSet<>();
    for (OperatorSetIdProto o : model.getOpsetImportList()) {
      domains.add(o.getDomain());
    }
    for (FunctionProto f : model.getFunctionsList()) {
      for (OperatorSetIdProto o : f.getOpsetImportList()) {
        if (domains.add(o.getDomain())) {
          b.addOpsetImport(o);
        }
      }
    }
    return b.build();
  }

  private void expand(NodeProto node, List<NodeProto> out, int depth) {
    FunctionProto f = functions.get(key(node.getDomain(), node.getOpType(), node.getOverload()));
    if (f == null) {
      out.add(node);
      return;
    }
    if (depth > MAX_DEPTH) {
      throw new HeadwiseException(
          "model-local function "
              + f.getName()
              + " nests deeper than "
              + MAX_DEPTH
              + " levels (recursive functions are not valid ONNX)");
    }
    String prefix =
        "hw_inl"
            + (counter++)
            + "/"
            + (node.getName().isEmpty() ? f.getName() : node.getName())
            + "/";
    Map<String, String> rename = new HashMap<>();
    for (int i = 0; i < f.getInputCount(); i++) {
      rename.put(f.getInput(i), i < node.getInputCount() ? node.getInput(i) : "");
    }
    for (int i = 0; i < f.getOutputCount(); i++) {
      rename.put(
          f.getOutput(i), i < node.getOutputCount() ? node.getOutput(i) : prefix + f.getOutput(i));
    }
    Map<String, AttributeProto> callAttrs = new HashMap<>();
    for (AttributeProto a : node.getAttributeList()) {
      callAttrs.put(a.getName(), a);
    }
    Map<String, AttributeProto> defaults = new HashMap<>();
    for (AttributeProto a : f.getAttributeProtoList()) {
      defaults.put(a.getName(), a);
    }
    for (NodeProto body : f.getNodeList()) {
      NodeProto.Builder nb = body.toBuilder().clearInput().clearOutput().clearAttribute();
      nb.setName(prefix + body.getName());
      for (String in : body.getInputList()) {
        nb.addInput(in.isEmpty() ? "" : rename.computeIfAbsent(in, k -> prefix + k));
      }
      for (String o : body.getOutputList()) {
        nb.addOutput(o.isEmpty() ? "" : rename.computeIfAbsent(o, k -> prefix + k));
      }
      for (AttributeProto a : body.getAttributeList()) {
        if (!a.getRefAttrName().isEmpty()) {
          AttributeProto v = callAttrs.get(a.getRefAttrName());
          if (v == null) {
            v = defaults.get(a.getRefAttrName());
          }
          if (v != null) {
            nb.addAttribute(v.toBuilder().setName(a.getName()).clearRefAttrName().build());
          }
        } else if (a.getType() == AttributeProto.AttributeType.GRAPH) {
          nb.addAttribute(a.toBuilder().setG(renameOuterScope(a.getG(), rename)).build());
        } else {
          nb.addAttribute(a);
        }
      }
      expand(nb.build(), out, depth + 1);
    }
  }

  /** Renames references to the function's scope inside a subgraph attribute (If/Loop bodies). */
  private static GraphProto renameOuterScope(GraphProto g, Map<String, String> rename) {
    Set<String> local = new HashSet<>();
    g.getInputList().forEach(v -> local.add(v.getName()));
    g.getInitializerList().forEach(t -> local.add(t.getName()));
    g.getNodeList().forEach(n -> local.addAll(n.getOutputList()));
    GraphProto.Builder gb = g.toBuilder().clearNode();
    for (NodeProto n : g.getNodeList()) {
      NodeProto.Builder nb = n.toBuilder().clearInput().clearAttribute();
      for (String in : n.getInputList()) {
        nb.addInput(!local.contains(in) && rename.containsKey(in) ? rename.get(in) : in);
      }
      for (AttributeProto a : n.getAttributeList()) {
        nb.addAttribute(
            a.getType() == AttributeProto.AttributeType.GRAPH
                ? a.toBuilder().setG(renameOuterScope(a.getG(), rename)).build()
                : a);
      }
      gb.addNode(nb);
    }
    return gb.build();
  }

  private static String key(String domain, String name, String overload) {
    return domain + "::" + name + "::" + overload;
  }
}
