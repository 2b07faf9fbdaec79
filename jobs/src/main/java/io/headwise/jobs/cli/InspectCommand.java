package io.headwise.jobs.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.headwise.graph.AttentionBlock;
import io.headwise.graph.AttentionLocator;
import io.headwise.graph.AttentionMap;
import io.headwise.graph.FusedAttention;
import io.headwise.graph.OnnxModel;
import io.headwise.graph.UnsupportedAttention;
import java.io.PrintStream;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code headwise inspect}: prints the attention map of a model (where each block is, heads, kv heads, causality). */
@Command(name = "inspect", mixinStandardHelpOptions = true,
    description = "Print the attention map of an ONNX model: per layer the query and kv heads, head dim, causality"
        + " and the probability tensor; fused attention ops that are not supported yet.")
public final class InspectCommand implements Callable<Integer> {
  @Mixin
  ConfigOption config;

  @Option(names = OptionNames.MODEL, paramLabel = "PATH", defaultValue = "default",
      description = "ONNX model file, or 'default' for the embedded all-MiniLM-L6-v2 (default: ${DEFAULT-VALUE}).")
  String model;

  @Option(names = OptionNames.JSON, description = "Print one JSON object instead of a table.")
  boolean json;

  @Override
  public Integer call() throws Exception {
    OnnxModel m = OnnxModel.load(model);
    AttentionMap map = AttentionLocator.locate(m);
    if (map.blocks().isEmpty() && map.unsupported().isEmpty()) {
      map.requireAttention(m.source());
    }
    PrintStream out = System.out;
    if (json) {
      out.println(new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(toJson(map, m.graph())));
    } else {
      printTable(m, map, out);
    }
    return 0;
  }

  /** The JSON form: model_id, opset, layers[], unsupported[]. */
  static ObjectNode toJson(AttentionMap map, ai.onnx.proto.OnnxMl.GraphProto graph) {
    ObjectMapper mapper = new ObjectMapper();
    ObjectNode root = mapper.createObjectNode();
    root.put("model_id", map.modelId());
    root.put("opset", map.opset());
    ArrayNode layers = root.putArray("layers");
    for (AttentionBlock b : map.blocks()) {
      ObjectNode l = layers.addObject();
      l.put("layer", b.layer());
      l.put("num_heads", b.numHeads());
      l.put("num_kv_heads", b.numKvHeads());
      l.put("head_dim", b.headDim());
      l.put("causal", b.causal());
      l.put("probabilities", b.probabilitiesTensor());
      l.put("softmax", b.softmaxNode());
      l.put("value", b.valueTensor());
      l.put("scale", b.scale());
      FusedAttention.origin(graph, b).ifPresent(o -> l.put("fused_op", o));
    }
    ArrayNode unsupported = root.putArray("unsupported");
    for (UnsupportedAttention u : map.unsupported()) {
      ObjectNode o = unsupported.addObject();
      o.put("layer", u.layer());
      o.put("op_type", u.opType());
      o.put("domain", u.domain().isEmpty() ? "ai.onnx" : u.domain());
      o.put("node", u.nodeName());
      o.put("message", u.describe());
    }
    return root;
  }

  private static void printTable(OnnxModel m, AttentionMap map, PrintStream out) {
    out.println("model     " + m.source());
    out.println("model_id  " + map.modelId());
    out.println("opset     " + map.opset());
    out.println();
    out.printf("%-6s %-6s %-9s %-9s %-14s %s%n", "layer", "heads", "kv_heads", "head_dim", "attention",
        "probabilities");
    for (AttentionBlock b : map.blocks()) {
      out.printf("%-6d %-6d %-9d %-9d %-14s %s%n", b.layer(), b.numHeads(), b.numKvHeads(), b.headDim(),
          b.causal() ? "causal" : "bidirectional", FusedAttention.origin(m.graph(), b)
              .map(o -> "fused " + o + ", expanded").orElse(b.probabilitiesTensor()));
    }
    if (map.unsupported().isEmpty()) {
      out.println("\nunsupported: none");
    } else {
      out.println("\nunsupported:");
      for (UnsupportedAttention u : map.unsupported()) {
        out.println("  " + u.describe());
      }
    }
  }
}
