package io.headwise.export.attention;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import io.headwise.export.attention.AttentionTestSupport.Output;
import io.headwise.graph.AttentionBlock;
import io.headwise.graph.AttentionLocator;
import io.headwise.graph.AttentionMap;
import io.headwise.graph.ElementType;
import io.headwise.graph.GraphBuilder;
import io.headwise.graph.OnnxModel;
import io.headwise.graph.RealExports;
import io.headwise.graph.synth.SynthDtype;
import io.headwise.graph.synth.SynthShape;
import io.headwise.graph.synth.SynthSpec;
import io.headwise.graph.synth.SyntheticLlama;
import io.headwise.schemas.HeadwiseException;
import io.headwise.schemas.PlanMeta;
import io.headwise.schemas.PlanRow;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * float16 models export with HeadwiseAttention computed in float32 between Casts, the rest of the
 * graph in the model's own element type: graph inputs, outputs and weights keep their types, the
 * dense plan reproduces a real torch.onnx float16 export within float16 rounding, and a compressed
 * plan applied to a float16 model matches the same plan on the float32 model of the same weights
 * (and differs from that model's dense output, so the plan is really applied). Decode graphs are
 * float32-only and refuse a float16 decoder by name.
 */
class Fp16ExportTest {
  @TempDir static Path dir;

  @Test
  void realTorchFloat16ExportKeepsItsTypesAndReproducesItsLogits() throws Exception {
    RealExports.Fixture fixture =
        RealExports.fixtures().stream()
            .filter(f -> f.dtype().equals("float16") && f.profiled())
            .findFirst()
            .orElseThrow(() -> new AssertionError("no float16 fixture in the manifest"));
    OnnxModel model = OnnxModel.load(RealExports.materialize(fixture, dir.resolve("real")));
    AttentionMap map = AttentionLocator.locate(model);
    for (AttentionBlock b : map.blocks()) {
      assertEquals(ElementType.FLOAT16, b.probabilitiesType(), "a float16 attention core");
    }
    PlanMeta meta = AttentionTestSupport.meta(model, map, "dense", "dense");
    ModelProto exported =
        HeadwiseAttentionExporter.rewrite(
            model, map, meta, AttentionTestSupport.densePlan(meta, map));
    assertSameInterfaceAndWeightTypes(model.proto(), exported, map.numLayers());

    long[][] ids = AttentionTestSupport.randomIds(2, 48, 128, 3);
    long[][] mask = AttentionTestSupport.ones(ids);
    for (int t = 30; t < 48; t++) {
      mask[1][t] = 0; // right padding in the second row
    }
    Difference diff = maxDifference(model, model.proto(), exported, ids, mask);
    System.out.printf(
        "%s dense plan: max |logits difference| = %.3g (max |logit| %.3g)%n",
        fixture.name(), diff.max(), diff.scale());
    // float16 keeps 11 significant bits: a relative rounding of 2^-11 per value, and the fused
    // float32 core rounds the scores once instead of in float16 before the float32 softmax
    assertTrue(
        diff.max() <= 4e-3 * diff.scale(), "max difference " + diff.max() + " of " + diff.scale());
  }

  @Test
  void compressedPlanOnFloat16MatchesTheSamePlanOnFloat32() throws Exception {
    OnnxModel fp32 = synth(SynthDtype.FLOAT32, "fp32");
    OnnxModel fp16 = synth(SynthDtype.FLOAT16, "fp16");
    AttentionMap map32 = AttentionLocator.locate(fp32);
    AttentionMap map16 = AttentionLocator.locate(fp16);
    PlanMeta meta32 = AttentionTestSupport.meta(fp32, map32, "s", "streamingllm");
    PlanMeta meta16 = AttentionTestSupport.meta(fp16, map16, "s", "streamingllm");
    ModelProto exported32 =
        HeadwiseAttentionExporter.rewrite(fp32, map32, meta32, streamingPlan(meta32, map32));
    ModelProto exported16 =
        HeadwiseAttentionExporter.rewrite(fp16, map16, meta16, streamingPlan(meta16, map16));
    assertSameInterfaceAndWeightTypes(fp16.proto(), exported16, map16.numLayers());

    long[][] ids = AttentionTestSupport.randomIds(2, 64, 97, 11);
    long[][] mask = AttentionTestSupport.ones(ids);
    Output plan32 = logits(fp32, exported32, ids, mask);
    Output plan16 = logits(fp16, exported16, ids, mask);
    Output dense32 = logits(fp32, fp32.proto(), ids, mask);
    double scale = maxAbs(plan32);
    double planGap = AttentionTestSupport.maxDiff(plan32, plan16);
    double planEffect = AttentionTestSupport.maxDiff(plan32, dense32);
    System.out.printf(
        "synthetic tiny, window 8 + 2 sinks: |fp16 plan - fp32 plan| %.3g, |fp32 plan - dense|"
            + " %.3g (max |logit| %.3g)%n",
        planGap, planEffect, scale);
    assertTrue(planGap <= 1e-2 * scale, "fp16 vs fp32 plan " + planGap + " of " + scale);
    assertTrue(planEffect > 10 * planGap, "the plan changes the output: " + planEffect);
  }

  @Test
  void float16DecoderIsRefusedForDecodeGraphsByName() {
    OnnxModel decoder = synth(SynthDtype.FLOAT16, "fp16-past", true);
    AttentionMap map = AttentionLocator.locate(decoder);
    PlanMeta meta = AttentionTestSupport.meta(decoder, map, "d", "dense");
    HeadwiseException e =
        assertThrows(
            HeadwiseException.class,
            () ->
                DecodeGraphExporter.rewrite(
                    decoder, map, decoder, meta, AttentionTestSupport.densePlan(meta, map)));
    assertTrue(e.getMessage().contains("element type 10"), e.getMessage());
    assertTrue(e.getMessage().contains("float32 decoders only"), e.getMessage());
  }

  private static OnnxModel synth(SynthDtype dtype, String name) {
    return synth(dtype, name, false);
  }

  private static OnnxModel synth(SynthDtype dtype, String name, boolean withPast) {
    SynthSpec spec = new SynthSpec(SynthShape.TINY, 2, 97, dtype, withPast, 5);
    return OnnxModel.load(SyntheticLlama.write(spec, dir.resolve(name + ".onnx")).model());
  }

  /** Every head streaming: 2 sinks and a window of 8 (far below the 64-token sequence). */
  private static List<PlanRow> streamingPlan(PlanMeta meta, AttentionMap map) {
    List<PlanRow> rows = new ArrayList<>();
    for (AttentionBlock b : map.blocks()) {
      for (int h = 0; h < b.numHeads(); h++) {
        rows.add(AttentionTestSupport.streaming(meta, "query_head", b.layer(), h, 2, 8, 0));
      }
    }
    return rows;
  }

  /**
   * The exported graph reads and writes what the model reads and writes, with the same element
   * types, and keeps every weight in its own type: the only float32 tensors it adds are the
   * HeadwiseAttention boundary (one Cast to float32 per Q, K, V and mask, one back per layer).
   */
  private static void assertSameInterfaceAndWeightTypes(
      ModelProto original, ModelProto exported, int layers) {
    assertEquals(
        types(original.getGraph().getInputList()), types(exported.getGraph().getInputList()));
    assertEquals(
        types(original.getGraph().getOutputList()), types(exported.getGraph().getOutputList()));
    Map<String, Integer> before = initializerTypes(original);
    Map<String, Integer> after = initializerTypes(exported);
    for (Map.Entry<String, Integer> e : before.entrySet()) {
      if (after.containsKey(e.getKey())) {
        assertEquals(e.getValue(), after.get(e.getKey()), "initializer " + e.getKey());
      }
    }
    long floatWeights =
        exported.getGraph().getInitializerList().stream()
            .filter(
                t -> t.getDataType() == GraphBuilder.FLOAT && !t.getName().startsWith("hw_attn/"))
            .filter(t -> !before.containsKey(t.getName()))
            .count();
    assertEquals(0, floatWeights, "no new float32 weights");
    List<NodeProto> ops =
        exported.getGraph().getNodeList().stream()
            .filter(n -> n.getOpType().equals(HeadwiseAttentionOp.OP_TYPE))
            .toList();
    assertEquals(layers, ops.size());
    Set<String> castToFloat16 =
        exported.getGraph().getNodeList().stream()
            .filter(n -> n.getOpType().equals("Cast") && n.getName().startsWith("hw_attn/"))
            .filter(n -> n.getAttribute(0).getI() != GraphBuilder.FLOAT)
            .map(n -> n.getInput(0))
            .collect(Collectors.toSet());
    for (NodeProto op : ops) {
      assertTrue(castToFloat16.contains(op.getOutput(0)), "the op's output is cast back");
    }
  }

  private static Map<String, Integer> types(List<ValueInfoProto> values) {
    return values.stream()
        .collect(
            Collectors.toMap(
                ValueInfoProto::getName,
                v -> v.getType().getTensorType().getElemType(),
                (a, b) -> a,
                TreeMap::new));
  }

  private static Map<String, Integer> initializerTypes(ModelProto m) {
    return m.getGraph().getInitializerList().stream()
        .collect(Collectors.toMap(TensorProto::getName, TensorProto::getDataType, (a, b) -> a));
  }

  /** The model's first graph output (torch.onnx names it "logits" or "output"). */
  private static Output logits(OnnxModel model, ModelProto proto, long[][] ids, long[][] mask)
      throws Exception {
    String name = proto.getGraph().getOutput(0).getName();
    return AttentionTestSupport.run(model, proto, ids, mask, Set.of(name)).get(name);
  }

  /** max |original − exported| over valid positions, and max |original| there. */
  private record Difference(double max, double scale) {}

  private static Difference maxDifference(
      OnnxModel model, ModelProto original, ModelProto exported, long[][] ids, long[][] mask)
      throws Exception {
    Output a = logits(model, original, ids, mask);
    Output b = logits(model, exported, ids, mask);
    int row = a.values().length / (ids.length * ids[0].length);
    double max = 0;
    double scale = 0;
    for (int s = 0; s < ids.length; s++) {
      for (int t = 0; t < ids[0].length; t++) {
        if (mask[s][t] == 0) {
          continue;
        }
        int base = (s * ids[0].length + t) * row;
        for (int x = 0; x < row; x++) {
          max = Math.max(max, Math.abs(a.values()[base + x] - b.values()[base + x]));
          scale = Math.max(scale, Math.abs(a.values()[base + x]));
        }
      }
    }
    return new Difference(max, scale);
  }

  private static double maxAbs(Output a) {
    double max = 0;
    for (float v : a.values()) {
      max = Math.max(max, Math.abs(v));
    }
    return max;
  }
}
