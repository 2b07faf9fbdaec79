package io.headwise.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.ValueInfoProto;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.headwise.graph.MergedDecoders;
import io.headwise.graph.OnnxModel;
import io.headwise.graph.TestModels;
import io.headwise.jobs.cli.CliRunner;
import io.headwise.jobs.cli.CliRunner.Result;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.apache.spark.sql.Row;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An Optimum-style merged decoder ({@code decoder_model_merged.onnx}: one If on {@code
 * use_cache_branch}, built at test time from stories260k's decoder with past) through every step of
 * the CLI: inspect names the cores and says which branch it reads; profile, plan, export and
 * evaluate run on the no-cache branch (the dense plan reproduces the model); quantize writes a
 * quantized no-cache decoder; {@code export --decode} and {@code evaluate --decode} run on the
 * cache branch, where a static plan measures what its prefill simulation measures.
 */
@Tag("slow")
class MergedDecoderEndToEndTest extends SparkTestBase {
  @TempDir Path tmp;

  @Test
  void aMergedDecoderRunsEveryStep() throws Exception {
    Path merged =
        MergedDecoders.write(
            TestModels.stories260k().resolveSibling("stories260k_past.onnx"),
            tmp.resolve("m/decoder_model_merged.onnx"));
    String model = merged.toString();
    JsonNode map =
        new ObjectMapper().readTree(ok(CliRunner.run("inspect", "--model", model, "--json")).out());
    assertTrue(map.has("merged_decoder"), map.toString());
    int layers = map.get("layers").size();
    assertEquals(5, layers, "stories260k's five attention cores, found in the no-cache branch");

    Path calib =
        TestFiles.jsonlFromIds(TestModels.stories260kCalibration(), tmp.resolve("c.jsonl"), "c");
    String w = tmp.resolve("wh").toString();
    ok(
        CliRunner.run(
            "profile",
            "--model",
            model,
            "--calibration",
            calib.toString(),
            "--warehouse",
            w,
            "--run-id",
            "s"));
    for (String method : List.of("dense", "streamingllm")) {
      ok(
          CliRunner.run(
              "plan",
              "--method",
              method,
              "--warehouse",
              w,
              "--stats-run",
              "s",
              "--kv-fraction",
              method.equals("dense") ? "1.0" : "0.5",
              "--length",
              "64",
              "--plan-id",
              method));
    }

    // export: the no-cache branch with the plan, a standalone decoder without past inputs
    Path exported = tmp.resolve("out/streaming.onnx");
    ok(
        CliRunner.run(
            "export",
            "--model",
            model,
            "--warehouse",
            w,
            "--plan-id",
            "streamingllm",
            "--out",
            exported.toString()));
    OnnxModel e = OnnxModel.load(exported);
    assertFalse(e.isMergedNoCacheView());
    List<String> inputs = e.graph().getInputList().stream().map(ValueInfoProto::getName).toList();
    assertEquals(List.of("input_ids", "attention_mask", "position_ids"), inputs);
    assertEquals(
        layers,
        e.graph().getNodeList().stream()
            .filter(n -> n.getOpType().equals("HeadwiseAttention"))
            .count());

    // export --decode: the cache branch, plan-shaped
    Path decode = tmp.resolve("out/streaming-decode.onnx");
    ok(
        CliRunner.run(
            "export",
            "--decode",
            "--model",
            model,
            "--warehouse",
            w,
            "--plan-id",
            "streamingllm",
            "--out",
            decode.toString()));
    assertTrue(
        OnnxModel.load(decode).graph().getInputList().stream()
            .anyMatch(v -> v.getName().equals("past.0.0.key")),
        "the decode graph reads its plan-shaped caches");

    Path held =
        TestFiles.jsonlFromIds(TestModels.stories260kCalibration(), tmp.resolve("h.jsonl"), "h");
    ok(
        CliRunner.run(
            "evaluate",
            "--model",
            model,
            "--warehouse",
            w,
            "--plan-id",
            "dense",
            "--samples",
            held.toString(),
            "--run-id",
            "e-dense",
            "--no-baseline"));
    assertTrue(kl("e-dense") < 1e-5, "the dense plan is the model: KL " + kl("e-dense"));
    ok(
        CliRunner.run(
            "evaluate",
            "--model",
            model,
            "--warehouse",
            w,
            "--plan-id",
            "streamingllm",
            "--samples",
            held.toString(),
            "--run-id",
            "e-s",
            "--no-baseline"));
    ok(
        CliRunner.run(
            "evaluate",
            "--decode",
            "--decoder",
            model,
            "--model",
            model,
            "--warehouse",
            w,
            "--plan-id",
            "streamingllm",
            "--samples",
            held.toString(),
            "--run-id",
            "d-s",
            "--no-baseline"));
    double prefill = kl("e-s");
    System.out.printf(
        "merged decoder: dense KL %.3g, streamingllm KL prefill %.6f decode %.6f%n",
        kl("e-dense"), prefill, kl("d-s"));
    assertTrue(prefill > 1e-3, "the plan costs something: " + prefill);
    assertEquals(prefill, kl("d-s"), 1e-4 * prefill + 1e-7, "a static plan: decode = prefill");

    Path q = tmp.resolve("q/w8.onnx");
    Files.createDirectories(q.getParent());
    ok(
        CliRunner.run(
            "quantize",
            "--model",
            model,
            "--calibration",
            calib.toString(),
            "--warehouse",
            w,
            "--run-id",
            "q8",
            "--method",
            "rtn",
            "--bits",
            "8",
            "--group",
            "32",
            "--out",
            q.toString()));
    assertTrue(
        OnnxModel.load(q).graph().getNodeList().stream()
            .anyMatch(n -> n.getOpType().equals("MatMulNBits")),
        "quantized linears");
  }

  private double kl(String runId) {
    List<Row> rows =
        spark
            .read()
            .format("delta")
            .load(tmp.resolve("wh/evaluations").toString())
            .filter("run_id = '" + runId + "'")
            .collectAsList();
    assertFalse(rows.isEmpty(), "evaluations of " + runId);
    return rows.get(0).getDouble(rows.get(0).fieldIndex("kl_mean"));
  }

  private static Result ok(Result r) {
    assertEquals(0, r.exitCode(), r.err());
    return r;
  }
}
