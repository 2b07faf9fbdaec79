package io.headwise.export.attention;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.ModelProto;
import io.headwise.export.attention.AttentionTestSupport.Output;
import io.headwise.graph.AttentionLocator;
import io.headwise.graph.AttentionMap;
import io.headwise.graph.OnnxModel;
import io.headwise.graph.TestModels;
import io.headwise.profilers.IdArrays;
import io.headwise.schemas.PlanMeta;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The dense plan exported as HeadwiseAttention reproduces the original model's outputs within 1e-5.
 */
@Tag("slow")
class DensePlanReproductionTest {
  private static final double TOLERANCE = 1e-5;

  @Test
  void stories260kLogits() throws Exception {
    int[][] calib = IdArrays.read(TestModels.stories260kCalibration(), "calib");
    long[][] ids = AttentionTestSupport.take(calib, 3, 256);
    double diff =
        maxDifference(
            OnnxModel.load(TestModels.stories260k()),
            ids,
            AttentionTestSupport.ones(ids),
            "logits",
            "pre-repeat");
    System.out.println("stories260k dense plan: max |logits difference| = " + diff);
    assertTrue(diff <= TOLERANCE, "max difference " + diff);
  }

  @Test
  void retrievalLmLogits() throws Exception {
    int[][] calib = IdArrays.read(TestModels.retrievalLmCalibration(), "calib");
    long[][] ids = AttentionTestSupport.take(calib, 2, 384);
    double diff =
        maxDifference(
            OnnxModel.load(TestModels.retrievalLm()),
            ids,
            AttentionTestSupport.ones(ids),
            "logits",
            "pre-repeat");
    System.out.println("retrieval-lm dense plan: max |logits difference| = " + diff);
    assertTrue(diff <= TOLERANCE, "max difference " + diff);
  }

  @Test
  void miniLmPaddedBatchOnValidTokens() throws Exception {
    long[][] ids = new long[3][24];
    long[][] mask = new long[3][24];
    int[] lengths = {24, 17, 6};
    Random rnd = new Random(5);
    for (int b = 0; b < 3; b++) {
      for (int t = 0; t < 24; t++) {
        boolean valid = t < lengths[b];
        ids[b][t] =
            !valid ? 0 : t == 0 ? 101 : t == lengths[b] - 1 ? 102 : 1000 + rnd.nextInt(20000);
        mask[b][t] = valid ? 1 : 0;
      }
    }
    double diff =
        maxDifference(OnnxModel.load("default"), ids, mask, "last_hidden_state", "direct");
    System.out.println(
        "all-MiniLM-L6-v2 dense plan (padded batch): max |last_hidden_state difference| = " + diff);
    assertTrue(diff <= TOLERANCE, "max difference " + diff);
  }

  /** Max |exported − original| of {@code output} over valid tokens. */
  private static double maxDifference(
      OnnxModel model, long[][] ids, long[][] mask, String output, String expectedKvInputs)
      throws Exception {
    AttentionMap map = AttentionLocator.locate(model);
    PlanMeta meta = AttentionTestSupport.meta(model, map, "dense", "dense");
    ModelProto exported =
        HeadwiseAttentionExporter.rewrite(
            model, map, meta, AttentionTestSupport.densePlan(meta, map));
    assertEquals(
        map.numLayers(),
        exported.getGraph().getNodeList().stream()
            .filter(n -> n.getOpType().equals(HeadwiseAttentionOp.OP_TYPE))
            .count());
    Output original =
        AttentionTestSupport.run(model, model.proto(), ids, mask, Set.of(output)).get(output);
    Output compressed =
        AttentionTestSupport.run(model, exported, ids, mask, Set.of(output)).get(output);
    assertArrayEquals(original.shape(), compressed.shape());
    int rowSize = original.values().length / (ids.length * ids[0].length);
    double max = 0;
    for (int b = 0; b < ids.length; b++) {
      for (int t = 0; t < ids[0].length; t++) {
        if (mask[b][t] == 0) {
          continue;
        }
        int base = (b * ids[0].length + t) * rowSize;
        for (int x = 0; x < rowSize; x++) {
          max =
              Math.max(max, Math.abs(original.values()[base + x] - compressed.values()[base + x]));
        }
      }
    }
    return max;
  }
}
