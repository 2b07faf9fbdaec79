package io.headwise.export.attention;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import io.headwise.export.attention.AttentionTestSupport.Output;
import io.headwise.graph.AttentionLocator;
import io.headwise.graph.AttentionMap;
import io.headwise.graph.FusedFixtures;
import io.headwise.graph.OnnxModel;
import io.headwise.graph.Tensors;
import io.headwise.graph.synth.SynthDtype;
import io.headwise.graph.synth.SynthShape;
import io.headwise.graph.synth.SynthSpec;
import io.headwise.graph.synth.SyntheticLlama;
import io.headwise.schemas.HeadwiseException;
import io.headwise.schemas.PlanMeta;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Soft-capping in the layout of an unfused (eager) export: the synthetic Llama's score path {@code
 * MatMul → Mul(1/√d) → Add(mask)} gets a cap c inserted after the scale, once as {@code Div(c) →
 * Tanh → Mul(c)} and once as {@code Mul(1/c) → Tanh → Mul(c)}. The prefill export reads either form
 * into the op's softcap attribute and reproduces the capped model; the decode export refuses a
 * capped decoder by name instead of dropping the cap.
 */
class SoftcapExportTest {
  private static final float CAP = 0.5f;

  @TempDir static Path dir;

  @Test
  void divideAndReciprocalFormsExportWithTheCap() throws Exception {
    OnnxModel plain = synth(false, "plain");
    long[][] ids = AttentionTestSupport.randomIds(2, 24, 97, 3);
    long[][] mask = AttentionTestSupport.ones(ids);
    Output uncapped = logits(plain, plain.proto(), ids, mask);
    for (boolean reciprocal : new boolean[] {false, true}) {
      OnnxModel capped = capped(plain, reciprocal, (reciprocal ? "mul" : "div") + "-cap.onnx");
      AttentionMap map = AttentionLocator.locate(capped);
      PlanMeta meta = AttentionTestSupport.meta(capped, map, "dense", "dense");
      ModelProto exported =
          AttentionCoreRewriter.rewrite(
                  capped,
                  map,
                  PlanResolver.resolve(
                      capped, map, meta, AttentionTestSupport.densePlan(meta, map)))
              .proto();
      assertEquals(map.numLayers(), OpUnderTest.opNodes(exported).size());
      for (NodeProto n : OpUnderTest.opNodes(exported)) {
        assertEquals(CAP, OpUnderTest.attributes(n).softcap(), 1e-7, n.getName());
      }
      Output model = logits(capped, capped.proto(), ids, mask);
      Output export = logits(capped, exported, ids, mask);
      double gap = AttentionTestSupport.maxDiff(model, export);
      double capEffect = AttentionTestSupport.maxDiff(model, uncapped);
      System.out.printf(
          "softcap %s form: |export − capped model| %.3g, |capped − uncapped model| %.3g%n",
          reciprocal ? "Mul(1/c)" : "Div(c)", gap, capEffect);
      assertTrue(gap <= 1e-5, "export vs capped model " + gap);
      // the cap must act on this model, or the comparison above would not show that it is applied
      assertTrue(capEffect > 1e3 * Math.max(gap, 1e-7), "the cap changes the logits: " + capEffect);
    }
  }

  @Test
  void decodeExportRefusesACappedDecoderByName() throws Exception {
    OnnxModel decoder = capped(synth(true, "past"), false, "past-cap.onnx");
    AttentionMap map = AttentionLocator.locate(decoder);
    PlanMeta meta = AttentionTestSupport.meta(decoder, map, "d", "dense");
    HeadwiseException e =
        assertThrows(
            HeadwiseException.class,
            () ->
                DecodeGraphExporter.rewrite(
                    decoder, map, decoder, meta, AttentionTestSupport.densePlan(meta, map)));
    assertTrue(
        e.getMessage().contains("attention layer 0 soft-caps its scores (softcap=0.5)")
            && e.getMessage().contains("export without --decode"),
        e.getMessage());
  }

  private static OnnxModel synth(boolean withPast, String name) {
    SynthSpec spec = new SynthSpec(SynthShape.TINY, 2, 97, SynthDtype.FLOAT32, withPast, 5);
    return OnnxModel.load(SyntheticLlama.write(spec, dir.resolve(name + ".onnx")).model());
  }

  /**
   * {@code model} with every layer's scaled scores capped: the Add that feeds each Softmax reads
   * CAP·tanh(scaled / CAP) instead of the scaled scores. Written next to the source model, whose
   * external-data file it keeps reading.
   */
  private static OnnxModel capped(OnnxModel model, boolean reciprocal, String name)
      throws Exception {
    GraphProto.Builder g = model.proto().getGraph().toBuilder();
    Map<String, NodeProto> producers = new HashMap<>();
    for (NodeProto n : g.getNodeList()) {
      for (String o : n.getOutputList()) {
        producers.put(o, n);
      }
    }
    g.addInitializer(Tensors.floatScalar("cap_c", CAP));
    if (reciprocal) {
      g.addInitializer(Tensors.floatScalar("cap_inverse", 1 / CAP));
    }
    int layers = 0;
    for (int i = 0; i < g.getNodeCount(); i++) {
      NodeProto softmax = g.getNode(i);
      if (!softmax.getOpType().equals("Softmax")) {
        continue;
      }
      NodeProto add = producers.get(softmax.getInput(0));
      assertEquals("Add", add.getOpType(), "the synthetic score path: Mul(scale) → Add(mask)");
      int at = g.getNodeList().indexOf(add);
      String scaled = add.getInput(0);
      String p = "cap" + layers++ + "/";
      NodeProto inner =
          reciprocal
              ? node("Mul", p + "mul_inverse", scaled, "cap_inverse")
              : node("Div", p + "div", scaled, "cap_c");
      NodeProto tanh = node("Tanh", p + "tanh", inner.getOutput(0));
      NodeProto outer = node("Mul", p + "mul", tanh.getOutput(0), "cap_c");
      g.setNode(at, add.toBuilder().setInput(0, outer.getOutput(0)).build());
      g.addNode(at, outer);
      g.addNode(at, tanh);
      g.addNode(at, inner);
      i += 3;
    }
    assertEquals(2, layers, "one cap per layer");
    return FusedFixtures.write(model.proto().toBuilder().setGraph(g).build(), dir, name);
  }

  private static NodeProto node(String op, String name, String... inputs) {
    return NodeProto.newBuilder()
        .setOpType(op)
        .setName(name)
        .addAllInput(List.of(inputs))
        .addOutput(name + "_out")
        .build();
  }

  private static Output logits(OnnxModel model, ModelProto proto, long[][] ids, long[][] mask)
      throws Exception {
    return AttentionTestSupport.run(model, proto, ids, mask, Set.of("logits")).get("logits");
  }
}
