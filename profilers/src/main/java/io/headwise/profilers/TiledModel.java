package io.headwise.profilers;

import static io.headwise.graph.ElementType.BOOL;
import static io.headwise.graph.ElementType.FLOAT;
import static io.headwise.graph.GraphBuilder.intAttr;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import io.headwise.graph.AttentionBlock;
import io.headwise.graph.AttentionMap;
import io.headwise.graph.FunctionInliner;
import io.headwise.graph.GraphBuilder;
import io.headwise.graph.ModelInputs;
import io.headwise.graph.OnnxModel;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * A model whose attention cores run through the query-tiled core ({@link TiledCore}) without
 * statistics: the same outputs (at valid positions; padded query rows may differ), no [B, H, T, T]
 * tensor for the tiled layers. Graphs that compute attention for another purpose (Hessian capture,
 * the "plain tiled" point of a benchmark) start from it.
 */
public final class TiledModel {
  /**
   * The rewritten proto (functions inlined, every graph output kept), the layers tiled, and, when
   * asked for, per tiled layer the name of its column mass [B, H, T]: Σ over valid queries of P.
   */
  public record Result(
      ModelProto proto, List<Integer> tiledLayers, Map<Integer, String> columnMass) {}

  private static final String PREFIX = "hw_tiled/";

  private TiledModel() {}

  /**
   * Rewrites {@code proto} (the model's graph, possibly with outputs appended by an instrumenter;
   * its attention tensors must still carry the names {@code map} knows) with {@code queryBlock}
   * rows per block.
   */
  public static Result rewrite(
      OnnxModel model, ModelProto proto, AttentionMap map, int queryBlock, boolean columnMass) {
    if (queryBlock <= 0) {
      throw new IllegalArgumentException("query block " + queryBlock);
    }
    Set<Integer> layers = TiledCore.tileableLayers(model, map);
    if (layers.isEmpty()) {
      return new Result(proto, List.of(), Map.of());
    }
    ModelProto inlined = FunctionInliner.inline(proto);
    GraphProto.Builder graph = inlined.getGraph().toBuilder();
    GraphBuilder g = new GraphBuilder(graph, model.opset(), PREFIX);
    ModelInputs inputs = ModelInputs.of(inlined.getGraph());
    String idsShape = g.op("Shape", inputs.inputIds());
    String mask = inputs.maskOrOnes(g, () -> idsShape);
    String tL = g.op("Gather", List.of(idsShape, g.constLong(1)), intAttr("axis", 0));
    TiledCore core =
        new TiledCore(
            g, null, queryBlock, tL, g.cast(mask, BOOL), null, g.cast(mask, FLOAT), null, null);
    core.keyMasks(TiledCore.keyMasks(model, map));
    Map<Integer, String> mass = new TreeMap<>();
    for (AttentionBlock b : map.blocks()) {
      if (layers.contains(b.layer())) {
        TiledCore.Result r = core.layer(b, null, columnMass);
        if (columnMass) {
          mass.put(b.layer(), r.colsum());
        }
      }
    }
    Set<String> keep = new HashSet<>();
    for (ValueInfoProto o : graph.getOutputList()) {
      keep.add(o.getName());
    }
    GraphProto out = GraphCleanup.pruneAndSort(graph.build(), keep);
    return new Result(
        inlined.toBuilder().setGraph(out).build(),
        layers.stream().sorted().toList(),
        Map.copyOf(mass));
  }
}
