package io.headwise.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.NodeProto;
import io.headwise.graph.FusedFixtures;
import io.headwise.graph.OnnxModel;
import io.headwise.jobs.cli.CliRunner;
import io.headwise.jobs.cli.CliRunner.Result;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.apache.spark.sql.Row;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Models whose attention is a fused operator run through every step: a GroupQueryAttention decoder
 * in ONNX Runtime GenAI's model-builder layout is inspected, profiled, planned, exported (the fused
 * op becomes HeadwiseAttention) and evaluated, the dense plan reproducing the fused model exactly.
 */
class FusedExportsTest extends SparkTestBase {
  @TempDir static Path tmp;

  static String gqa;
  static Path calib;
  static Path held;

  @BeforeAll
  static void fixtures() throws Exception {
    FusedFixtures f = FusedFixtures.gqa();
    f.layers = 2;
    gqa = FusedFixtures.write(f.buildGqa(), tmp, "gqa_decoder.onnx").source();
    calib = ids(tmp.resolve("calib.jsonl"), "c", 6, f.vocab, 40, 1);
    held = ids(tmp.resolve("held.jsonl"), "h", 3, f.vocab, 40, 2);
  }

  /** Random token-id samples of lengths between half and all of {@code length}. */
  static Path ids(Path out, String prefix, int n, int vocab, int length, long seed)
      throws Exception {
    Random rnd = new Random(seed);
    List<String> lines = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      int len = length / 2 + rnd.nextInt(length / 2 + 1);
      StringBuilder s =
          new StringBuilder(
              "{\"sample_id\":\"" + prefix + i + "\",\"source\":\"random\",\"input_ids\":[");
      for (int j = 0; j < len; j++) {
        s.append(j == 0 ? "" : ",").append(1 + rnd.nextInt(vocab - 1));
      }
      lines.add(s.append("]}").toString());
    }
    return Files.write(out, lines);
  }

  @Test
  void gqaDecoderInspectProfilePlanExportEvaluate() throws Exception {
    Result r = ok(CliRunner.run("inspect", "--model", gqa));
    assertTrue(r.out().contains("com.microsoft::GroupQueryAttention"), r.out());
    assertTrue(r.out().contains("unsupported: none"), r.out());
    String w = tmp.resolve("wh-gqa").toString();
    ok(
        CliRunner.run(
            "profile",
            "--model",
            gqa,
            "--calibration",
            calib.toString(),
            "--warehouse",
            w,
            "--run-id",
            "g1"));
    List<Row> stats =
        spark
            .read()
            .format("delta")
            .load(w + "/head_stats")
            .filter("run_id = 'g1'")
            .collectAsList();
    assertFalse(stats.isEmpty());
    for (String method : List.of("dense", "duo", "streamingllm")) {
      ok(
          CliRunner.run(
              "plan",
              "--method",
              method,
              "--warehouse",
              w,
              "--stats-run",
              "g1",
              "--kv-fraction",
              method.equals("dense") ? "1" : "0.5",
              "--length",
              "32",
              "--plan-id",
              "g-" + method));
    }
    Path out = tmp.resolve("gqa-duo.onnx");
    ok(
        CliRunner.run(
            "export",
            "--model",
            gqa,
            "--warehouse",
            w,
            "--plan-id",
            "g-duo",
            "--out",
            out.toString()));
    OnnxModel exported = OnnxModel.load(out);
    long ops =
        exported.graph().getNodeList().stream()
            .filter(n -> n.getOpType().equals("HeadwiseAttention"))
            .count();
    assertEquals(2, ops);
    for (NodeProto n : exported.graph().getNodeList()) {
      assertFalse(n.getOpType().equals("GroupQueryAttention"), "fused op left in the export");
    }
    ok(
        CliRunner.run(
            "evaluate",
            "--model",
            gqa,
            "--warehouse",
            w,
            "--plan-id",
            "g-dense",
            "--samples",
            held.toString(),
            "--run-id",
            "e-dense",
            "--no-baseline"));
    Row dense =
        spark.read().format("delta").load(w + "/evaluations").filter("run_id = 'e-dense'").first();
    double kl = dense.getDouble(dense.fieldIndex("kl_mean"));
    assertTrue(kl < 1e-6, "dense plan KL vs the fused model: " + kl);
    assertEquals(1.0, dense.getDouble(dense.fieldIndex("top1_agreement")), 1e-12);
  }

  private static Result ok(Result r) {
    assertEquals(0, r.exitCode(), r.err() + r.out());
    return r;
  }
}
