package io.headwise.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.headwise.graph.AttentionLocator;
import io.headwise.graph.AttentionMap;
import io.headwise.graph.OnnxModel;
import io.headwise.graph.TestModels;
import io.headwise.jobs.cli.CliRunner;
import io.headwise.jobs.cli.CliRunner.Result;
import io.headwise.jobs.warehouse.PlanTables;
import io.headwise.jobs.warehouse.RunRecords;
import io.headwise.jobs.warehouse.Warehouse;
import io.headwise.schemas.PlanMeta;
import io.headwise.schemas.PlanRow;
import io.headwise.schemas.Tables;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Bad input to the decode commands, through the CLI: a model without past inputs given to {@code
 * export --decode} or {@code evaluate --decode} (the message says how to export one), a plan made
 * for another model and a decoder with other weights, each to both commands: one {@code headwise:
 * error:} line, exit 2, nothing written (no output file, no evaluations rows).
 */
@Tag("slow")
class DecodeRefusalsTest extends SparkTestBase {
  @TempDir static Path tmp;

  @Test
  void decodeRefusalsAreOneLineExitTwoAndWriteNothing() throws Exception {
    spark.conf().set("spark.databricks.delta.snapshotPartitions", "2");
    OnnxModel stories = OnnxModel.load(TestModels.stories260k());
    String plain = TestModels.stories260k().toString();
    String retrieval = TestModels.retrievalLm().toString();
    String retrievalPast =
        TestModels.retrievalLm().resolveSibling("retrieval_lm_past.onnx").toString();
    Path wh = tmp.resolve("warehouse");
    Warehouse w = new Warehouse(spark, wh);
    storeStreamingPlan(w, stories, "p");
    Path out = tmp.resolve("out/decode.onnx");
    Files.createDirectories(out.getParent());

    // a model without past inputs
    Result r =
        CliRunner.run(
            "export",
            "--decode",
            "--model",
            plain,
            "--plan-model",
            plain,
            "--warehouse",
            wh.toString(),
            "--plan-id",
            "p",
            "--out",
            out.toString());
    refused(r, "has no past key/value inputs", out);
    assertTrue(r.err().contains("--task text-generation-with-past"), r.err());

    // a plan made for another model (stories260k's plan, retrieval-lm's decoder)
    r =
        CliRunner.run(
            "export",
            "--decode",
            "--model",
            retrievalPast,
            "--plan-model",
            retrieval,
            "--warehouse",
            wh.toString(),
            "--plan-id",
            "p",
            "--out",
            out.toString());
    refused(r, "plan 'p' belongs to model " + stories.modelId(), out);

    // a decoder that does not hold the plan model's weights
    r =
        CliRunner.run(
            "export",
            "--decode",
            "--model",
            retrievalPast,
            "--plan-model",
            plain,
            "--warehouse",
            wh.toString(),
            "--plan-id",
            "p",
            "--out",
            out.toString());
    refused(r, "does not hold the weights of", out);

    // evaluate --decode: the same refusals, and no evaluations rows
    Path samples =
        TestFiles.jsonlFromIds(TestModels.stories260kCalibration(), tmp.resolve("held.jsonl"), "h");
    r =
        CliRunner.run(
            "evaluate",
            "--decode",
            "--decoder",
            plain,
            "--model",
            plain,
            "--warehouse",
            wh.toString(),
            "--plan-id",
            "p",
            "--samples",
            samples.toString(),
            "--run-id",
            "e1",
            "--no-baseline");
    refused(r, "has no past key/value inputs", out);
    assertTrue(r.err().contains("--task text-generation-with-past"), r.err());
    r =
        CliRunner.run(
            "evaluate",
            "--decode",
            "--model",
            plain,
            "--warehouse",
            wh.toString(),
            "--plan-id",
            "p",
            "--samples",
            samples.toString(),
            "--run-id",
            "e1",
            "--no-baseline");
    refused(r, "--decode needs --decoder PATH", out);
    // a plan made for another model (stories260k's plan, retrieval-lm and its decoder)
    r =
        CliRunner.run(
            "evaluate",
            "--decode",
            "--decoder",
            retrievalPast,
            "--model",
            retrieval,
            "--warehouse",
            wh.toString(),
            "--plan-id",
            "p",
            "--samples",
            samples.toString(),
            "--run-id",
            "e1",
            "--no-baseline");
    refused(r, "plan 'p' belongs to model " + stories.modelId(), out);
    // a decoder that does not hold the plan model's weights (retrieval-lm's for stories260k)
    r =
        CliRunner.run(
            "evaluate",
            "--decode",
            "--decoder",
            retrievalPast,
            "--model",
            plain,
            "--warehouse",
            wh.toString(),
            "--plan-id",
            "p",
            "--samples",
            samples.toString(),
            "--run-id",
            "e1",
            "--no-baseline");
    refused(r, "does not hold the weights of", out);
    assertFalse(w.exists(Tables.EVALUATIONS), "no evaluations written");
  }

  private static void refused(Result r, String says, Path out) {
    assertEquals(2, r.exitCode(), r.err());
    assertEquals(1, r.err().strip().lines().count(), r.err());
    assertTrue(r.err().startsWith("headwise: error: ") && r.err().contains(says), r.err());
    assertFalse(Files.exists(out), "nothing written");
  }

  private static void storeStreamingPlan(Warehouse w, OnnxModel m, String planId) {
    AttentionMap map = AttentionLocator.locate(m);
    PlanMeta meta =
        new PlanMeta(
            planId,
            m.modelId(),
            "s",
            "streamingllm",
            0.3,
            List.of(96),
            Map.of(96, 0.3),
            map.numLayers(),
            map.block(0).numHeads(),
            map.block(0).numKvHeads(),
            0L);
    List<PlanRow> rows = new ArrayList<>();
    for (int l = 0; l < map.numLayers(); l++) {
      for (int h = 0; h < map.block(l).numKvHeads(); h++) {
        rows.add(
            new PlanRow(
                planId,
                m.modelId(),
                "s",
                "streamingllm",
                PlanRow.KV_HEAD,
                l,
                h,
                PlanRow.STREAMING,
                2,
                10,
                0,
                0,
                "{}"));
      }
    }
    w.commit(
        List.of(
            new Warehouse.TableWrite(
                Tables.ATTENTION_PLANS,
                w.rows(Tables.ATTENTION_PLANS, PlanTables.toRows(meta, rows)),
                Map.of("model_id", m.modelId(), "plan_id", planId)),
            new Warehouse.TableWrite(
                Tables.RUNS,
                RunRecords.row(
                    w,
                    planId,
                    PlanJob.STEP,
                    m.modelId(),
                    "test",
                    Instant.now(),
                    Map.of(),
                    Map.of(),
                    null),
                RunRecords.keys(m.modelId(), planId, PlanJob.STEP))),
        "test");
  }
}
