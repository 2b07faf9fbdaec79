package io.headwise.profilers.quant;

import static io.headwise.graph.ElementType.FLOAT;
import static io.headwise.graph.ElementType.INT64;
import static io.headwise.graph.GraphBuilder.intAttr;
import static io.headwise.graph.GraphBuilder.intsAttr;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import io.headwise.graph.AttentionBlock;
import io.headwise.graph.AttentionMap;
import io.headwise.graph.ElementType;
import io.headwise.graph.FunctionInliner;
import io.headwise.graph.GraphBuilder;
import io.headwise.graph.GraphIndex;
import io.headwise.graph.ModelInputs;
import io.headwise.graph.OnnxModel;
import io.headwise.profilers.TiledModel;
import io.headwise.schemas.HeadwiseException;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Appends the GPTQ/RSQ Hessian capture to a graph so that the execution provider computes it: for
 * every {@link HessianGroup} (linears sharing an input X of width K) the output {@code Σ_t w_t x_t
 * x_tᵀ} [K, K] over the batch's tokens, as {@code Reshape(X, [-1, K]) → Mul(·, √w) → MatMul(ᵀ·,
 * ·)}: one GEMM over all B·T rows, which is the batch sum of the per-sequence Gram matrices. Padded
 * tokens get {@code w = 0}.
 *
 * <p>Token weights: 1 on valid tokens (GPTQ), or RSQ's attention concentration of the group's
 * block: {@code s_t = Σ_h Σ_i P[h, i, t]} over valid queries i, mapped per sequence to {@code r =
 * clamp((s − min s)/(max s − min s)·(1 − rMin) + rMin, rMin, 1)} with min and max over valid tokens
 * ({@code r = 1} when they are equal), then {@code w = r / mean(r)} over valid tokens. All of this
 * is fp32 in the graph (inputs in another float type are cast); the caller accumulates the
 * per-batch sums in double.
 */
public final class HessianCapture {
  private static final String PREFIX = "hw/quant/";

  private final GraphBuilder g;
  private final int opset;
  private String validF;
  private String validColumn;
  private final Map<Integer, String> sqrtWeightsByLayer = new HashMap<>();
  private final Map<Integer, String> weightOutputs = new LinkedHashMap<>();

  /** Per tiled layer, Σ over valid queries of P as [B, H, T] (the tiled core's column mass). */
  private Map<Integer, String> columnMass = Map.of();

  private HessianCapture(GraphBuilder g, int opset) {
    this.g = g;
    this.opset = opset;
  }

  /**
   * Instruments {@code model} for {@code groups} (usually {@link LinearLayers#groups} of {@link
   * LinearLayers#find}).
   */
  public static CaptureModel instrument(
      OnnxModel model, AttentionMap map, List<HessianGroup> groups, CaptureConfig config) {
    return instrument(model, map, groups, config, 0);
  }

  /**
   * As {@link #instrument(OnnxModel, AttentionMap, List, CaptureConfig)} with the model's attention
   * run through the query-tiled core at {@code queryBlock} rows (0: the model's own attention), so
   * the capture materialises no [B, H, T, T] tensor in the tiled layers; RSQ's token weights then
   * come from the core's column mass.
   */
  public static CaptureModel instrument(
      OnnxModel model,
      AttentionMap map,
      List<HessianGroup> groups,
      CaptureConfig config,
      int queryBlock) {
    if (groups.isEmpty()) {
      throw new HeadwiseException(
          "model "
              + model.source()
              + " has no linear layer inside its transformer blocks"
              + " (MatMul/Gemm with an initializer weight) to capture");
    }
    ModelProto proto = FunctionInliner.inline(model.proto());
    Map<Integer, String> columnMass = Map.of();
    if (queryBlock > 0) {
      TiledModel.Result tiled =
          TiledModel.rewrite(
              model, proto, map, queryBlock, config.weighting() != CaptureConfig.Weighting.UNIFORM);
      proto = tiled.proto();
      columnMass = tiled.columnMass();
    }
    GraphProto.Builder graph = proto.getGraph().toBuilder();
    GraphIndex index = new GraphIndex(proto.getGraph());
    HessianCapture c =
        new HessianCapture(new GraphBuilder(graph, model.opset(), PREFIX), model.opset());
    c.columnMass = columnMass;
    c.shared(ModelInputs.of(proto.getGraph()));
    for (HessianGroup group : groups) {
      String sqrtW =
          config.weighting() == CaptureConfig.Weighting.UNIFORM
              ? c.validColumn
              : c.sqrtWeights(map.block(group.layer()), config);
      c.group(group, sqrtW, index, config.exposeInputs());
    }
    return new CaptureModel(
        proto.toBuilder().setGraph(graph).build(),
        List.copyOf(groups),
        Map.copyOf(c.weightOutputs));
  }

  private void shared(ModelInputs inputs) {
    String mask = inputs.maskOrOnes(g, () -> g.op("Shape", inputs.inputIds()));
    validF = g.cast(mask, FLOAT);
    validColumn = g.op("Reshape", validF, g.constLongs(true, -1, 1));
    output(g.reduceSum(validF, false, 0, 1), CaptureModel.TOKENS, FLOAT);
  }

  /** √w as a [B·T, 1] column for the linears of {@code block}, built once per block. */
  private String sqrtWeights(AttentionBlock block, CaptureConfig config) {
    return sqrtWeightsByLayer.computeIfAbsent(
        block.layer(),
        l -> {
          String received; // [B,T]
          if (columnMass.containsKey(l)) {
            received = g.reduceSum(columnMass.get(l), false, 1);
          } else {
            String p = block.probabilitiesTensor();
            if (block.probabilitiesType() != FLOAT) {
              p = g.cast(p, FLOAT);
            }
            String queries = g.unsqueeze(validF, 1, 3); // [B,1,T,1]
            received = g.reduceSum(g.op("Mul", p, queries), false, 1, 2);
          }
          String valid = g.cast(validF, ElementType.BOOL);
          float big = 3.0e38f;
          String lo = reduce("ReduceMin", g.op("Where", valid, received, g.constFloat(big)));
          String hi = reduce("ReduceMax", g.op("Where", valid, received, g.constFloat(-big)));
          String span = g.op("Sub", hi, lo); // [B,1]
          float rMin = (float) config.rMin();
          String mapped =
              g.op(
                  "Add",
                  g.op(
                      "Mul", g.op("Div", g.op("Sub", received, lo), span), g.constFloat(1f - rMin)),
                  g.constFloat(rMin));
          String clamped = g.min(g.max(mapped, g.constFloat(rMin)), g.constFloat(1f));
          String r =
              g.op("Where", g.op("Greater", span, g.constFloat(0f)), clamped, g.constFloat(1f));
          String rValid = g.op("Mul", r, validF);
          String mean =
              g.op("Div", g.reduceSum(rValid, true, 1), g.reduceSum(validF, true, 1)); // [B,1]
          String w = g.op("Div", rValid, mean); // [B,T], 0 at padding
          weightOutputs.put(l, CaptureModel.weightsOutput(l));
          g.identity(w, CaptureModel.weightsOutput(l));
          g.addOutput(CaptureModel.weightsOutput(l), FLOAT, "batch", "seq");
          return g.op("Reshape", g.op("Sqrt", w), g.constLongs(true, -1, 1));
        });
  }

  private void group(HessianGroup group, String sqrtW, GraphIndex index, boolean expose) {
    String x = group.inputTensor();
    if (index.elemType(x) != FLOAT) {
      x = g.cast(x, FLOAT);
    }
    String rows = g.op("Reshape", x, g.constLongs(true, -1, group.inFeatures())); // [B·T, K]
    String weighted = g.op("Mul", rows, sqrtW);
    String gram =
        g.op("MatMul", g.op("Transpose", List.of(weighted), intsAttr("perm", 1, 0)), weighted);
    output(
        gram,
        CaptureModel.gramOutput(group.id()),
        FLOAT,
        String.valueOf(group.inFeatures()),
        String.valueOf(group.inFeatures()));
    String rowCount =
        g.op("Slice", g.op("Shape", rows), g.constLongs(true, 0), g.constLongs(true, 1));
    output(rowCount, CaptureModel.rowsOutput(group.id()), INT64, "1");
    if (expose) {
      output(
          rows,
          CaptureModel.inputOutput(group.id()),
          FLOAT,
          "rows",
          String.valueOf(group.inFeatures()));
    }
  }

  /**
   * ReduceMin/ReduceMax over axis 1 with keepdims, axes as an attribute below opset 18 and as an
   * input from 18.
   */
  private String reduce(String op, String x) {
    if (opset >= 18) {
      return g.op(op, List.of(x, g.constLongs(true, 1)), intAttr("keepdims", 1));
    }
    return g.op(op, List.of(x), intsAttr("axes", 1), intAttr("keepdims", 1));
  }

  private void output(String tensor, String name, ElementType type, String... dims) {
    g.identity(tensor, name);
    g.addOutput(name, type, dims);
  }
}
