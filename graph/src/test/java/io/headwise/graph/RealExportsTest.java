package io.headwise.graph;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.headwise.graph.RealExports.Expected;
import io.headwise.graph.RealExports.Fixture;
import io.headwise.graph.RealExports.Unsupported;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * The attention map of every committed real-exporter fixture (graphs written by {@code
 * torch.onnx}'s TorchScript and dynamo exporters, see tools/fixtures/README.md) matches the map
 * implied by the config it was exported from: number of attention blocks, query heads, kv heads,
 * head dim, causality, the scale (1/√head_dim wherever the graph's scale can be read) and the fused
 * ops reported as unsupported, with their layers.
 */
class RealExportsTest {
  @TempDir static Path dir;

  @Test
  void manifestCoversTheCuratedSet() {
    List<Fixture> all = RealExports.fixtures();
    Set<String> combos = new HashSet<>();
    for (Fixture f : all) {
      combos.add(
          f.arch()
              + "|"
              + f.exporter()
              + "|"
              + f.attnImplementation()
              + "|"
              + f.opset()
              + "|"
              + f.postprocess()
              + "|"
              + f.dtype());
    }
    for (String arch : List.of("llama", "qwen2", "mistral", "phi3", "gpt2", "bert")) {
      assertTrue(
          combos.contains(arch + "|torchscript|eager|14|null|float32"),
          arch + " TorchScript eager export");
      assertTrue(
          combos.contains(arch + "|dynamo|sdpa|18|null|float32"),
          arch + " dynamo SDPA opset-18 export");
    }
    assertTrue(
        all.stream().anyMatch(f -> f.profiled() && f.opset() >= 23),
        "an opset-23 fused Attention export (expanded, profiled)");
    assertTrue(all.stream().anyMatch(Fixture::externalData), "an external-data export");
    assertTrue(
        all.stream().anyMatch(f -> f.postprocess() != null), "an ONNX Runtime optimised graph");
    assertTrue(all.stream().anyMatch(f -> f.dtype().equals("float16")), "an fp16 export");
    assertTrue(
        all.stream().anyMatch(f -> f.opset() == 11 && f.inputs().contains("token_type_ids")),
        "an opset-11 export with token_type_ids");
    assertTrue(
        all.stream().filter(Fixture::profiled).count() >= 16, "profiled fixtures: " + all.size());
  }

  @TestFactory
  Stream<DynamicTest> everyFixtureHasItsExpectedAttentionMap() {
    return RealExports.fixtures().stream()
        .map(f -> DynamicTest.dynamicTest(f.name(), () -> check(f)));
  }

  private static void check(Fixture f) {
    Path path = RealExports.materialize(f, dir.resolve(f.name()));
    OnnxModel model = OnnxModel.load(path);
    assertEquals(f.opset(), model.opset(), "opset");
    assertEquals(f.externalData(), model.hasExternalData(), "external data");
    AttentionMap map = AttentionLocator.locate(model);
    Expected e = f.expected();

    List<Unsupported> reported =
        map.unsupported().stream()
            .map(u -> new Unsupported(u.opType(), u.domain(), u.layer()))
            .toList();
    assertEquals(
        e.unsupported(),
        reported,
        () ->
            "unsupported: "
                + map.unsupported().stream().map(UnsupportedAttention::describe).toList());

    assertEquals(e.numBlocks(), map.numLayers(), "attention blocks");
    assertEquals(
        e.numLayers(), map.numLayers() + map.unsupported().size(), "layers (blocks + unsupported)");
    boolean fp16 = f.dtype().equals("float16");
    for (AttentionBlock b : map.blocks()) {
      String where = "layer " + b.layer() + ": ";
      assertEquals(e.numHeads(), b.numHeads(), where + "heads");
      assertEquals(e.numKvHeads(), b.numKvHeads(), where + "kv heads");
      assertEquals(e.headDim(), b.headDim(), where + "head dim");
      assertEquals(e.causal(), b.causal(), where + "causal");
      if (!Double.isNaN(b.scale())) {
        // an fp16 graph stores the scale as a half: relative error up to 2^-11
        assertEquals(
            e.scale(), b.scale(), fp16 ? 1e-3 : 1e-6, where + "scale (" + b.scaleForm() + ")");
      }
      // TorchScript eager computes an fp16 model's Softmax in fp16 (tools/fixtures/README.md)
      assertEquals(
          fp16 ? ElementType.FLOAT16 : ElementType.FLOAT,
          b.probabilitiesType(),
          where + "probabilities element type");
    }
    for (int i = 0; i < map.numLayers(); i++) {
      assertEquals(i, map.block(i).layer(), "block order");
    }
    if (f.postprocess() != null && f.postprocess().equals("ort_offline_extended")) {
      // GPT-2 already transposes K with its own Transpose, so ORT folds only the scale into
      // FusedMatMul (transB=0)
      assertTrue(
          map.blocks().stream().allMatch(b -> b.scaleForm().equals("fused")),
          "ORT-optimised QK products are FusedMatMul with the scale in alpha");
    }
  }
}
