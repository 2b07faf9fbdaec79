package io.headwise.profilers;

import static io.headwise.graph.ElementType.FLOAT;
import static io.headwise.graph.ElementType.INT64;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import io.headwise.graph.AttentionBlock;
import io.headwise.graph.AttentionMap;
import io.headwise.graph.ElementType;
import io.headwise.graph.FunctionInliner;
import io.headwise.graph.GraphBuilder;
import io.headwise.graph.ModelInputs;
import io.headwise.graph.OnnxModel;
import io.headwise.graph.Tensors;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Rewrites a model so that one kv-head group of one layer can be switched, per run, to "S sink
 * tokens + a window of w keys" (the streaming policy of a KV plan) without rebuilding the session:
 * four int64 scalar inputs select the layer, kv head, window and sink count (layer -1 = dense; kv
 * head -1 = every kv head of the layer at once), and every attention block adds {@code -1e30 ·
 * [head in the selected group] · [key outside sinks ∪ window]} to its softmax input. Positions are
 * valid-token positions. Used to measure how much each head's KV cache matters to the model's
 * output.
 */
public final class AblationInstrumenter {
  public static final String LAYER = "hw_ablate_layer";
  public static final String KV_HEAD = "hw_ablate_kv_head";
  public static final String WINDOW = "hw_ablate_window";
  public static final String SINKS = "hw_ablate_sinks";
  private static final float DROP = -1e30f;

  private AblationInstrumenter() {}

  /**
   * [1, H, 1, 1] bool of block {@code blockLayer}: true for the heads the scalars select — the kv
   * group {@code kvHead} ({@code groups} holds each head's kv head as float), or every head when
   * {@code kvHead} is negative, and only when {@code layer} names this block.
   */
  static String selected(
      GraphBuilder g, String groups, String kvHead, String layer, int blockLayer) {
    String group = g.op("Or", g.op("Equal", groups, kvHead), g.less(kvHead, g.constFloat(0f)));
    return g.op("And", group, g.op("Equal", g.constLong(blockLayer), layer));
  }

  /**
   * The rewritten model (inputs {@link #LAYER}, {@link #KV_HEAD}, {@link #WINDOW}, {@link #SINKS}
   * added).
   */
  public static ModelProto instrument(OnnxModel model, AttentionMap map) {
    return instrument(model, map, 0);
  }

  /**
   * As {@link #instrument(OnnxModel, AttentionMap)}, with every layer the query-tiled core can
   * rewrite run as its loop at {@code queryBlock} rows (0: none), the ablation applied inside the
   * loop, so those layers materialise no [B, H, T, T] tensor; the other layers get the bias on
   * their own scores.
   */
  public static ModelProto instrument(OnnxModel model, AttentionMap map, int queryBlock) {
    map.requireAttention(model.source());
    ModelProto proto = FunctionInliner.inline(model.proto());
    GraphProto.Builder graph = proto.getGraph().toBuilder();
    GraphBuilder g = new GraphBuilder(graph, model.opset(), "hw_ablate/");
    ModelInputs inputs = ModelInputs.of(proto.getGraph());
    String idsShape = g.op("Shape", inputs.inputIds());
    String mask = inputs.maskOrOnes(g, () -> idsShape);
    String posF = g.op("Sub", g.cumSum(g.cast(mask, FLOAT), 1), g.constFloat(1f)); // [B,T]
    String posJ = g.unsqueeze(posF, 1); // [B,1,T]
    String dist = g.op("Sub", g.unsqueeze(posF, 2), posJ); // [B,T,T]
    for (String in : List.of(LAYER, KV_HEAD, WINDOW, SINKS)) {
      g.addInput(in, INT64);
    }
    String window = g.cast(WINDOW, FLOAT);
    String band = map.block(0).causal() ? g.less(dist, window) : g.less(g.op("Abs", dist), window);
    String keep = g.op("Or", band, g.less(posJ, g.cast(SINKS, FLOAT)));
    String drop =
        g.op(
            "Mul",
            g.unsqueeze(g.cast(g.op("Not", keep), FLOAT), 1),
            g.constFloat(DROP)); // [B,1,T,T]
    String kvHead = g.cast(KV_HEAD, FLOAT);
    Set<Integer> tiled = queryBlock > 0 ? TiledCore.tileableLayers(model, map) : Set.of();
    if (!tiled.isEmpty()) {
      String tL =
          g.op("Gather", List.of(idsShape, g.constLong(1)), GraphBuilder.intAttr("axis", 0));
      TiledCore core =
          new TiledCore(
              g,
              null,
              queryBlock,
              tL,
              g.cast(mask, ElementType.BOOL),
              posF,
              g.cast(mask, FLOAT),
              null,
              null);
      core.ablate(new TiledCore.Ablation(window, g.cast(SINKS, FLOAT), kvHead, LAYER));
      core.keyMasks(TiledCore.keyMasks(model, map));
      for (AttentionBlock b : map.blocks()) {
        if (tiled.contains(b.layer())) {
          core.layer(b, null, false);
        }
      }
    }
    for (AttentionBlock b : map.blocks()) {
      if (tiled.contains(b.layer())) {
        continue;
      }
      float[] groupOf = new float[b.numHeads()];
      for (int h = 0; h < b.numHeads(); h++) {
        groupOf[h] = b.kvHeadOf(h);
      }
      String groups = g.fresh("groups");
      graph.addInitializer(Tensors.floats(groups, new long[] {1, b.numHeads(), 1, 1}, groupOf));
      String selected = selected(g, groups, kvHead, LAYER, b.layer());
      String bias = g.op("Mul", drop, g.cast(selected, FLOAT)); // [B,H,T,T]
      if (b.probabilitiesType() != FLOAT) {
        bias = g.cast(bias, b.probabilitiesType());
      }
      String biased = g.op("Add", b.scoresTensor(), bias);
      for (int i = 0; i < graph.getNodeCount(); i++) {
        NodeProto n = graph.getNode(i);
        if (n.getName().equals(b.softmaxNode())) {
          graph.setNode(i, n.toBuilder().setInput(0, biased));
        }
      }
    }
    // the appended nodes read graph inputs and feed the softmax nodes, which sit earlier: restore
    // topological order
    if (tiled.isEmpty()) {
      return proto.toBuilder().setGraph(TopologicalOrder.sort(graph.build())).build();
    }
    Set<String> outputs = new HashSet<>();
    graph.getOutputList().forEach(o -> outputs.add(o.getName()));
    return proto.toBuilder().setGraph(GraphCleanup.pruneAndSort(graph.build(), outputs)).build();
  }
}
