package io.headwise.export.attention;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.ModelProto;
import io.headwise.graph.AttentionLocator;
import io.headwise.graph.AttentionMap;
import io.headwise.graph.OnnxModel;
import io.headwise.graph.TestModels;
import io.headwise.planners.HeadStatsTable;
import io.headwise.planners.KvPlanners;
import io.headwise.planners.Plan;
import io.headwise.planners.PlanRequest;
import io.headwise.profilers.IdArrays;
import io.headwise.schemas.HeadStat;
import io.headwise.schemas.PlanRow;
import io.headwise.schemas.StatNames;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Plans made by the real planners (h2o, streamingllm) export and evaluate as their reference says.
 */
class PlannerPlansTest {
  @ParameterizedTest
  @ValueSource(strings = {"h2o", "streamingllm"})
  void stories260kPlannerPlan(String method) throws Exception {
    OnnxModel model = OnnxModel.load(TestModels.stories260k());
    AttentionMap map = AttentionLocator.locate(model);
    List<HeadStat> stats = new ArrayList<>();
    for (int l = 0; l < map.numLayers(); l++) {
      for (int h = 0; h < map.block(l).numHeads(); h++) {
        stats.add(
            new HeadStat(
                model.modelId(),
                "stats-1",
                l,
                h,
                map.block(l).kvHeadOf(h),
                64,
                100,
                StatNames.ENTROPY_MEAN,
                1.0));
      }
    }
    Plan plan =
        KvPlanners.plan(
            method,
            new PlanRequest(
                "plan-" + method, HeadStatsTable.of(stats), 0.5, List.of(64), Map.of(), 0L));
    ModelProto exported = HeadwiseAttentionExporter.rewrite(model, map, plan.meta(), plan.rows());
    ReferenceAttention.Attributes layer0 =
        OpUnderTest.attributes(OpUnderTest.opNodes(exported).get(0));
    PlanRow row = plan.rows().get(0);
    if (method.equals("h2o")) {
      assertEquals(PlanRow.BUDGET, row.kind());
      assertEquals(row.budgetTokens(), layer0.budgetTokens()[0]);
      long recent =
          (long)
              new com.fasterxml.jackson.databind.ObjectMapper()
                  .readTree(row.paramsJson())
                  .get("recent_budget_tokens")
                  .asDouble();
      assertEquals(
          recent, layer0.recentTokens()[0], "recent tokens come from the planner's params");
    } else {
      assertEquals(row.sinkTokens(), layer0.sinkTokens()[0]);
      assertEquals((float) row.alpha(), layer0.alpha()[0]);
    }
    int[][] calib = IdArrays.read(TestModels.stories260kCalibration(), "calib");
    long[][] ids = AttentionTestSupport.take(calib, 2, 64);
    OpUnderTest.Comparison c =
        OpUnderTest.compare(model, exported, ids, AttentionTestSupport.ones(ids));
    System.out.println(
        method
            + " plan on stories260k ("
            + row.kind()
            + ", budget "
            + row.budgetTokens()
            + ", sink "
            + row.sinkTokens()
            + ", alpha "
            + row.alpha()
            + "): max |op − reference| "
            + c.worst());
    assertTrue(
        c.minSelectionGap() > 1e-6, "budget selection too close to a tie: " + c.minSelectionGap());
    assertTrue(c.worst() <= 1e-4, "max difference " + c.worst());
  }
}
