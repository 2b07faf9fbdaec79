package io.headwise.export.quant.rotation;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import io.headwise.graph.AttentionLocator;
import io.headwise.graph.AttentionMap;
import io.headwise.graph.OnnxModel;
import io.headwise.graph.Tensors;
import io.headwise.graph.TestModels;
import io.headwise.profilers.IdArrays;
import io.headwise.profilers.quant.LinearLayers;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/**
 * The rotated full-precision stories260k reproduces the original logits within 1e-4 of their scale
 * (on calibration ids and a right-padded batch; see {@link RotationCheck} for why not 1e-4
 * absolute), also with tied embeddings read through a Transpose, while an unfolded norm is caught;
 * MiniLM's LayerNorm with bias is refused by name.
 */
class ResidualStreamRotationTest {

  @Test
  void rotatedStories260kMatchesOriginalLogits() {
    OnnxModel model = OnnxModel.load(TestModels.stories260k());
    AttentionMap map = AttentionLocator.locate(model);
    RotatedModel rotated = ResidualStreamRotation.rotate(model.proto(), map, 7);
    assertEquals(64, rotated.hidden());
    assertEquals("RANDOM_HADAMARD_SYLVESTER", rotated.construction());
    assertEquals(11, rotated.foldedNorms().size());
    assertEquals(10, rotated.onlineTransforms().size());
    assertTrue(
        rotated.onlineTransforms().stream()
            .anyMatch(s -> s.contains("random_orthogonal of order 172")),
        rotated.onlineTransforms().toString());

    RotationCheck.Difference d = RotationCheck.compare(model, rotated.proto(), batch(), mask());
    assertTrue(
        d.withinTolerance(), "max |logit difference| " + d.maxAbs() + " of " + d.referenceMaxAbs());
    assertTrue(d.maxAbs() < 1e-3, "max |logit difference| " + d.maxAbs());
    assertTrue(d.referenceMaxAbs() > 1, "logits are not trivially small");

    // the check tells a structural mistake from rounding: a norm weight set to 1 without folding it
    GraphProto.Builder broken = model.graph().toBuilder();
    for (int i = 0; i < broken.getInitializerCount(); i++) {
      TensorProto t = broken.getInitializer(i);
      if (t.getName().equals("m.model.layers.2.post_attention_layernorm.weight")) {
        double[] ones = new double[64];
        Arrays.fill(ones, 1);
        broken.setInitializer(i, Weights.withValues(t, t.getName(), ones));
      }
    }
    RotationCheck.Difference wrong =
        RotationCheck.compare(
            model, model.proto().toBuilder().setGraph(broken).build(), batch(), mask());
    assertTrue(
        wrong.maxAbs() > 0.1 && !wrong.withinTolerance(),
        "unfolded norm changes logits by " + wrong.maxAbs());

    // the online transforms are Constant-weighted MatMuls, not linear layers to quantize
    OnnxModel rotatedModel = model.withProto(rotated.proto());
    assertEquals(
        35,
        LinearLayers.find(rotated.proto().getGraph(), AttentionLocator.locate(rotatedModel))
            .size());
    for (TensorProto t : rotated.proto().getGraph().getInitializerList()) {
      if (t.getName().contains("layernorm.weight") || t.getName().equals("m.model.norm.weight")) {
        assertTrue(Arrays.stream(Tensors.toDoubles(t)).allMatch(v -> v == 1.0), t.getName());
      }
    }
  }

  @Test
  void tiedEmbeddingIsClonedForTheLmHead() {
    OnnxModel model = OnnxModel.load(TestModels.stories260k());
    GraphProto g = model.graph();
    TensorProto embedding = init(g, "m.model.embed_tokens.weight");
    NodeProto head =
        g.getNodeList().stream()
            .filter(n -> n.getName().equals("/m/lm_head/MatMul"))
            .findFirst()
            .orElseThrow();
    double[] e = Tensors.toDoubles(embedding);
    double[] h = Tensors.toDoubles(init(g, head.getInput(1)));
    for (int v = 0; v < 512; v++) {
      for (int j = 0; j < 64; j++) {
        assertEquals(
            e[v * 64 + j],
            h[j * 512 + v],
            0.0,
            "stories260k's LM head is the transposed embedding");
      }
    }
    // rebuild the head as MatMul(x, Transpose(E)), sharing the embedding initializer
    GraphProto.Builder b = g.toBuilder().clearNode();
    for (NodeProto n : g.getNodeList()) {
      if (n == head) {
        b.addNode(
            NodeProto.newBuilder()
                .setOpType("Transpose")
                .setName("tied/Transpose")
                .addInput(embedding.getName())
                .addOutput("tied/E_T")
                .addAttribute(
                    AttributeProto.newBuilder()
                        .setName("perm")
                        .setType(AttributeProto.AttributeType.INTS)
                        .addInts(1)
                        .addInts(0)));
        b.addNode(n.toBuilder().setInput(1, "tied/E_T"));
      } else {
        b.addNode(n);
      }
    }
    for (int i = b.getInitializerCount() - 1; i >= 0; i--) {
      if (b.getInitializer(i).getName().equals(head.getInput(1))) {
        b.removeInitializer(i);
      }
    }
    ModelProto tied = model.proto().toBuilder().setGraph(b).build();
    OnnxModel tiedModel = model.withProto(tied);
    RotatedModel rotated =
        ResidualStreamRotation.rotate(tied, AttentionLocator.locate(tiedModel), 3);
    RotationCheck.Difference d = RotationCheck.compare(tiedModel, rotated.proto(), batch(), mask());
    assertTrue(
        d.withinTolerance(), "max |logit difference| " + d.maxAbs() + " of " + d.referenceMaxAbs());
    long rotatedCopies =
        rotated.proto().getGraph().getInitializerList().stream()
            .filter(t -> t.getName().startsWith(embedding.getName()))
            .count();
    assertEquals(2, rotatedCopies, "embedding and LM head each get their own rotated copy");
  }

  @Test
  void miniLmLayerNormWithBiasIsRefusedByName() {
    OnnxModel model = OnnxModel.load("default");
    RotationRefusedException e =
        assertThrows(
            RotationRefusedException.class,
            () -> ResidualStreamRotation.rotate(model.proto(), AttentionLocator.locate(model), 0));
    assertTrue(e.getMessage().contains("LayerNorm"), e.getMessage());
  }

  private static long[][] batch() {
    int[][] ids = IdArrays.read(TestModels.stories260kCalibration(), "calib");
    long[][] out = new long[3][256];
    for (int r = 0; r < 3; r++) {
      int len = r == 2 ? 100 : 256;
      for (int i = 0; i < len; i++) {
        out[r][i] = ids[r][i];
      }
    }
    return out;
  }

  private static long[][] mask() {
    long[][] m = new long[3][256];
    for (int r = 0; r < 3; r++) {
      Arrays.fill(m[r], 0, r == 2 ? 100 : 256, 1);
    }
    return m;
  }

  private static TensorProto init(GraphProto g, String name) {
    return g.getInitializerList().stream()
        .filter(t -> t.getName().equals(name))
        .findFirst()
        .orElseThrow();
  }
}
