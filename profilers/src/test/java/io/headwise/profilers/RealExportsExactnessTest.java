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
 * The exactness bar on graphs written by real exporters: for every committed {@code torch.onnx}
 * fixture with attention that can be profiled (graph's test resources, see
 * tools/fixtures/README.md: Llama GQA, Qwen2, Mistral, Phi-3, GPT-2 and BERT from the TorchScript
 * and dynamo exporters, external data, ONNX Runtime-optimised graphs, fp16, opset 11), every
 * in-graph statistic equals the direct computation from the exposed softmax outputs within 1e-4, on
 * one padded batch with right padding, left padding and a hole in the mask. No fallback to one row
 * per batch: every committed fixture must run batched. The same again through the query-tiled core.
 */
class RealExportsExactnessTest {
  @TempDir static Path dir;

  @TestFactory
  Stream<DynamicTest> everyProfiledFixtureIsExact() {
    List<Fixture> fixtures = RealExports.fixtures().stream().filter(Fixture::profiled).toList();
    assertFalse(
        fixtures.isEmpty(), "no profiled fixtures in " + RealExports.ROOT + "manifest.json");
    return fixtures.stream().map(f -> DynamicTest.dynamicTest(f.name(), () -> check(f, 0)));
  }

  /**
   * The same bar through the query-tiled core at 5 rows per block (not a divisor of the batch's
   * length): every float32 layer is tiled (asserted by the check) and exact, except Mistral's: its
   * sliding window of 6 tokens is shorter than the batch, the tiled core's rebuilt mask has no
   * window, so the score-path check must keep those layers untiled.
   */
  @TestFactory
  Stream<DynamicTest> everyProfiledFixtureIsExactTiled() {
    List<Fixture> fixtures = RealExports.fixtures().stream().filter(Fixture::profiled).toList();
    return fixtures.stream().map(f -> DynamicTest.dynamicTest(f.name(), () -> check(f, 5)));
  }

  private static void check(Fixture f, int queryBlock) {
    OnnxModel model =
        OnnxModel.load(RealExports.materialize(f, dir.resolve(f.name() + "-" + queryBlock)));
    AttentionMap map = AttentionLocator.locate(model);
    assertEquals(f.expected().numBlocks(), map.numLayers(), "attention blocks");
    // The dynamo opset-23 export (fused ONNX Attention, expanded) takes a batch-1 cos/sin cache in
    // RotaryEmbedding,
    // which ONNX Runtime rejects for larger batches: it is checked one row per batch, and since the
    // tiled core's
    // score-path probe runs two rows, its layers keep the untiled route.
    boolean batchOne = f.opset() >= 23;
    ExtraModelsExactnessTest.checkPaddedBatch(
        model, map, batchOne, queryBlock, !f.arch().equals("mistral") && !batchOne);
  }
}
