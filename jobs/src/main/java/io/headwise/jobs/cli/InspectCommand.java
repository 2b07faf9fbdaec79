package io.headwise.jobs.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.headwise.graph.AttentionBlock;
import io.headwise.graph.AttentionLocator;
import io.headwise.graph.AttentionMap;
import io.headwise.graph.FusedAttention;
import io.headwise.graph.ModelInputs;
import io.headwise.graph.ModelLimits;
import io.headwise.graph.OnnxModel;
import io.headwise.graph.UnsupportedAttention;
import io.headwise.profilers.AttentionTiling;
import io.headwise.schemas.HeadwiseException;
import io.headwise.schemas.Json;
import java.io.PrintStream;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code headwise inspect}: prints the attention map of a model (where each block is, heads, kv
 * heads, causality) and how the tiled attention core would run it at a given length (rows per query
 * block, the layers it rewrites).
 */
@Command(
    name = "inspect",
    mixinStandardHelpOptions = true,
    description =
        "Print the attention map of an ONNX model: per layer the query and kv heads, head dim, causality"
            + " and the probability tensor; fused attention ops that are not supported yet.")
public final class InspectCommand implements Callable<Integer> {
  @Mixin ConfigOption config;

  @Mixin ModelOption model;

  @Option(names = OptionNames.JSON, description = "Print one JSON object instead of a table.")
  boolean json;

  @Option(
      names = OptionNames.LENGTH,
      paramLabel = "T",
      description =
          "Sequence length at which to report the tiled attention core's query block (default: the"
              + " model's position limit, else 4096).")
  Integer length;

  @Option(
      names = OptionNames.QUERY_BLOCK,
      paramLabel = "ROWS",
      description =
          "Query rows per block of the tiled attention core (default: from --attention-memory-mb).")
  Integer queryBlock;

  @Option(
      names = OptionNames.ATTENTION_MEMORY_MB,
      paramLabel = "MIB",
      description =
          "Memory budget of one query block (default: an eighth of the JVM's maximum heap).")
  Integer attentionMemoryMb;

  /**
   * The tiled core at the reported length: rows per block, the layers it rewrites, why others are
   * not.
   */
  record Tiling(
      int length,
      int queryBlock,
      long budgetMb,
      boolean fixed,
      List<Integer> tiledLayers,
      Map<Integer, String> untiled) {}

  private static final String MERGED =
      "an If selects the cache branch; headwise profiles, plans and exports the no-cache branch"
          + " (export --decode: the cache branch)";

  @Override
  public Integer call() throws Exception {
    OnnxModel m = model.load();
    AttentionMap map = AttentionLocator.locate(m);
    if (map.blocks().isEmpty() && map.unsupported().isEmpty()) {
      map.requireAttention(m.source());
    }
    Tiling tiling = map.blocks().isEmpty() ? null : tiling(m, map);
    PrintStream out = System.out;
    if (json) {
      ObjectNode root = toJson(map, m.graph());
      if (m.isMergedNoCacheView()) {
        root.put("merged_decoder", MERGED);
      }
      if (tiling != null) {
        ObjectNode t = root.putObject("tiling");
        t.put("length", tiling.length());
        t.put("query_block", tiling.queryBlock());
        if (!tiling.fixed()) {
          t.put("attention_memory_mb", tiling.budgetMb());
        }
        ArrayNode layers = t.putArray("tiled_layers");
        tiling.tiledLayers().forEach(layers::add);
        ObjectNode why = t.putObject("untiled_layers");
        tiling.untiled().forEach((l, reason) -> why.put(String.valueOf(l), reason));
      }
      out.println(Json.pretty(root));
    } else {
      if (m.isMergedNoCacheView()) {
        out.println("merged decoder: " + MERGED);
        out.println();
      }
      printTable(m, map, out);
      if (tiling != null) {
        printTiling(tiling, out);
      }
    }
    return 0;
  }

  private Tiling tiling(OnnxModel m, AttentionMap map) {
    AttentionTiling t = new AttentionTiling(queryBlock, attentionMemoryMb);
    long limit = ModelLimits.of(m.graph(), ModelInputs.of(m.graph())).maxPositions();
    int len = length != null ? length : limit > 0 ? (int) Math.min(limit, Integer.MAX_VALUE) : 4096;
    if (len < 1) {
      throw new HeadwiseException(
          OptionNames.LENGTH + " takes a positive sequence length, got " + len);
    }
    int rows = t.rowsFor(len, 1, map);
    List<Integer> tiled = AttentionTiling.tiledLayers(m, map);
    Map<Integer, String> untiled = new TreeMap<>();
    for (AttentionBlock b : map.blocks()) {
      if (!tiled.contains(b.layer())) {
        untiled.put(b.layer(), AttentionTiling.whyUntiled(m, map, b));
      }
    }
    return new Tiling(len, rows, t.budgetMb(), queryBlock != null, tiled, untiled);
  }

  private static void printTiling(Tiling t, PrintStream out) {
    out.println();
    if (t.queryBlock() >= t.length()) {
      out.printf(
          "attention tiling at length %d: untiled (one block of %d rows covers the sequence)%n",
          t.length(), t.queryBlock());
    } else {
      out.printf(
          "attention tiling at length %d: query blocks of %d rows%s%n",
          t.length(), t.queryBlock(), t.fixed() ? "" : " (budget " + t.budgetMb() + " MiB)");
    }
    out.println("  tiled layers:   " + (t.tiledLayers().isEmpty() ? "none" : t.tiledLayers()));
    t.untiled().forEach((l, why) -> out.println("  layer " + l + " untiled: " + why));
  }

  /** The JSON form: model_id, opset, layers[], unsupported[]. */
  static ObjectNode toJson(AttentionMap map, ai.onnx.proto.OnnxMl.GraphProto graph) {
    ObjectMapper mapper = Json.MAPPER;
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
    out.printf(
        "%-6s %-6s %-9s %-9s %-14s %s%n",
        "layer", "heads", "kv_heads", "head_dim", "attention", "probabilities");
    for (AttentionBlock b : map.blocks()) {
      out.printf(
          "%-6d %-6d %-9d %-9d %-14s %s%n",
          b.layer(),
          b.numHeads(),
          b.numKvHeads(),
          b.headDim(),
          b.causal() ? "causal" : "bidirectional",
          FusedAttention.origin(m.graph(), b)
              .map(o -> "fused " + o + ", expanded")
              .orElse(b.probabilitiesTensor()));
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
