package io.headwise.profilers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import io.headwise.graph.AttentionLocator;
import io.headwise.graph.AttentionMap;
import io.headwise.graph.OnnxModel;
import io.headwise.graph.RealExports;
import io.headwise.graph.RealExports.Fixture;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * The exactness bar on graphs written by real exporters: for every committed {@code torch.onnx} fixture with
 * attention that can be profiled (graph's test resources, see tools/fixtures/README.md: Llama GQA, Qwen2, Mistral,
 * Phi-3, GPT-2 and BERT from the TorchScript and dynamo exporters, external data, ONNX Runtime-optimised graphs,
 * fp16, opset 11), every in-graph statistic equals the direct computation from the exposed softmax outputs within
 * 1e-4, on one padded batch with right padding, left padding and a hole in the mask. No fallback to one row per
 * batch: every committed fixture must run batched.
 */
class RealExportsExactnessTest {
  @TempDir
  static Path dir;

  @TestFactory
  Stream<DynamicTest> everyProfiledFixtureIsExact() {
    List<Fixture> fixtures = RealExports.fixtures().stream().filter(Fixture::profiled).toList();
    assertFalse(fixtures.isEmpty(), "no profiled fixtures in " + RealExports.ROOT + "manifest.json");
    return fixtures.stream().map(f -> DynamicTest.dynamicTest(f.name(), () -> check(f)));
  }

  private static void check(Fixture f) {
    OnnxModel model = OnnxModel.load(RealExports.materialize(f, dir.resolve(f.name())));
    AttentionMap map = AttentionLocator.locate(model);
    assertEquals(f.expected().numBlocks(), map.numLayers(), "attention blocks");
    ExtraModelsExactnessTest.checkPaddedBatch(model, map, false);
  }
}
