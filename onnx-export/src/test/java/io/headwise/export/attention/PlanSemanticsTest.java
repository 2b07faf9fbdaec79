package io.headwise.export.attention;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.ModelProto;
import io.headwise.graph.AttentionLocator;
import io.headwise.graph.AttentionMap;
import io.headwise.graph.OnnxModel;
import io.headwise.graph.TestModels;
import io.headwise.profilers.IdArrays;
import io.headwise.schemas.PlanMeta;
import io.headwise.schemas.PlanRow;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Streaming, elastic and budget plans exported as HeadwiseAttention equal a Java reference of the same semantics. */
class PlanSemanticsTest {
  private static final double TOLERANCE = 1e-4;

  @Test
  void stories260kMixedKvHeadPlan() throws Exception {
    OnnxModel model = OnnxModel.load(TestModels.stories260k());
    AttentionMap map = AttentionLocator.locate(model);
    PlanMeta meta = AttentionTestSupport.meta(model, map, "mixed", "h2o");
    String g = PlanRow.KV_HEAD;
    List<PlanRow> rows = AttentionTestSupport.rows(map, g, (l, h) -> switch ((h + l) % 4) {
      case 0 -> AttentionTestSupport.full(meta, g, l, h);
      case 1 -> AttentionTestSupport.streaming(meta, g, l, h, 2, 8, 0);
      case 2 -> AttentionTestSupport.streaming(meta, g, l, h, 1, 2, 0.25);
      default -> AttentionTestSupport.budget(meta, g, l, h, 12, 4);
    });
    ModelProto exported = HeadwiseAttentionExporter.rewrite(model, map, meta, rows);
    int[][] calib = IdArrays.read(TestModels.stories260kCalibration(), "calib");
    long[][] ids = AttentionTestSupport.take(calib, 2, 48);
    long[][] mask = AttentionTestSupport.ones(ids);
    for (int t = 40; t < 48; t++) {
      mask[1][t] = 0; // right padding
    }
    OpUnderTest.Comparison c = OpUnderTest.compare(model, exported, ids, mask);
    System.out.println("stories260k mixed plan: max |op − reference| per layer " + java.util.Arrays.toString(
        c.maxDifference()) + ", max |output| " + c.maxOutput() + ", min budget selection gap " + c.minSelectionGap());
    assertTrue(c.minSelectionGap() > 1e-5, "budget selection too close to a tie: " + c.minSelectionGap());
    assertTrue(c.worst() <= TOLERANCE, "max difference " + c.worst());
  }
}
