package io.headwise.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.headwise.graph.OnnxModel;
import io.headwise.jobs.cli.CliRunner;
import io.headwise.jobs.cli.CliRunner.Result;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.sql.Row;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code headwise synth --shape tiny} writes a model (weights in external data) that every step
 * takes end to end: inspect, calibrate, profile, plan, export, evaluate, quantize — in float32,
 * float16 and bfloat16. The dense plan reproduces the float32 model exactly and the float16 model
 * within float16 rounding; the exported and quantized float16 and bfloat16 models keep their
 * element type. Bfloat16 runs through {@code Bfloat16Emulation} (float32 arithmetic on the bf16
 * weights: the CPU provider has no bf16 kernels), where the dense plan is again exact.
 */
class SynthEndToEndTest extends SparkTestBase {
  @TempDir Path tmp;

  @ParameterizedTest
  @ValueSource(strings = {"float32", "float16", "bfloat16"})
  void tinySynthProfilesPlansExportsAndEvaluates(String dtype) throws Exception {
    boolean fp16 = dtype.equals("float16");
    int elemType =
        switch (dtype) {
          case "float16" -> 10;
          case "bfloat16" -> 16;
          default -> 1;
        };
    Path model = tmp.resolve("synth/tiny.onnx");
    Files.createDirectories(model.getParent());
    Result r =
        ok(
            CliRunner.run(
                "synth",
                "--shape",
                "tiny",
                "--layers",
                "2",
                "--vocab",
                "128",
                "--seed",
                "11",
                "--dtype",
                dtype,
                "--out",
                model.toString()));
    assertTrue(r.out().contains("wrote " + model), r.out());
    assertTrue(Files.size(tmp.resolve("synth/tiny.onnx.data")) > 100_000);

    JsonNode map =
        new ObjectMapper()
            .readTree(ok(CliRunner.run("inspect", "--model", model.toString(), "--json")).out());
    assertEquals(2, map.get("layers").size());
    assertEquals(4, map.get("layers").get(0).get("num_heads").asInt());
    assertEquals(2, map.get("layers").get(0).get("num_kv_heads").asInt());
    assertTrue(map.get("layers").get(0).get("causal").asBoolean());

    Path probes = tmp.resolve("probes.jsonl");
    ok(
        CliRunner.run(
            "calibrate",
            "--model",
            model.toString(),
            "--probes",
            "repeat,passkey",
            "--count",
            "2",
            "--probe-length",
            "64",
            "--id-range",
            "2:128",
            "--out",
            probes.toString()));
    String w = tmp.resolve("wh").toString();
    ok(
        CliRunner.run(
            "profile",
            "--model",
            model.toString(),
            "--calibration",
            probes.toString(),
            "--warehouse",
            w,
            "--run-id",
            "s1"));
    List<Row> stats =
        spark
            .read()
            .format("delta")
            .load(tmp.resolve("wh/head_stats").toString())
            .filter("run_id = 's1' and stat = 'entropy_mean'")
            .collectAsList();
    assertFalse(stats.isEmpty());
    // every method plans; h2o and ems evict from a decoding cache, which export --decode refuses
    // for float16/bfloat16 decoders (float32 caches), so they are planned only
    for (String method : List.of("dense", "streamingllm", "duo", "moa", "razor", "h2o", "ems")) {
      ok(
          CliRunner.run(
              "plan",
              "--method",
              method,
              "--warehouse",
              w,
              "--stats-run",
              "s1",
              "--kv-fraction",
              method.equals("dense") ? "1.0" : "0.5",
              "--length",
              "64",
              "--plan-id",
              "p-" + method));
    }
    for (String method : List.of("streamingllm", "duo", "moa", "razor")) {
      Path exported = tmp.resolve("out/" + method + ".onnx");
      Files.createDirectories(exported.getParent());
      ok(
          CliRunner.run(
              "export",
              "--model",
              model.toString(),
              "--warehouse",
              w,
              "--plan-id",
              "p-" + method,
              "--out",
              exported.toString()));
      assertTrue(Files.size(exported) > 0);
      assertEquals(elemType, logitsType(exported), method + ": the export keeps the element type");
      ok(
          CliRunner.run(
              "evaluate",
              "--model",
              model.toString(),
              "--warehouse",
              w,
              "--plan-id",
              "p-" + method,
              "--samples",
              probes.toString(),
              "--run-id",
              "e-" + method,
              "--no-baseline"));
      for (Row e :
          spark
              .read()
              .format("delta")
              .load(tmp.resolve("wh/evaluations").toString())
              .filter("run_id = 'e-" + method + "'")
              .collectAsList()) {
        // KV 0.5 at 64 tokens drops keys: the plan moves the output, by a finite amount
        double kl = e.getDouble(e.fieldIndex("kl_mean"));
        assertTrue(Double.isFinite(kl) && kl > 1e-6, method + " KL " + kl);
      }
    }
    ok(
        CliRunner.run(
            "evaluate",
            "--model",
            model.toString(),
            "--warehouse",
            w,
            "--plan-id",
            "p-dense",
            "--samples",
            probes.toString(),
            "--run-id",
            "e-dense",
            "--no-baseline"));
    List<Row> evals =
        spark
            .read()
            .format("delta")
            .load(tmp.resolve("wh/evaluations").toString())
            .filter("run_id = 'e-dense'")
            .collectAsList();
    assertFalse(evals.isEmpty());
    for (Row e : evals) {
      if (fp16) {
        // HeadwiseAttention computes in float32 between Casts: equal up to float16 rounding
        assertEquals(0.0, e.getDouble(e.fieldIndex("kl_mean")), 1e-3, "dense plan, float16");
        assertTrue(e.getDouble(e.fieldIndex("top1_agreement")) >= 0.98, e.toString());
      } else {
        assertEquals(
            0.0, e.getDouble(e.fieldIndex("kl_mean")), 1e-5, "the dense plan is the model");
        assertEquals(1.0, e.getDouble(e.fieldIndex("top1_agreement")), 1e-9);
      }
    }

    // quantize: the float weights that stay (embedding, LM head) are copied from the source data
    // file byte for byte
    Path q = tmp.resolve("q/tiny-w4.onnx");
    Files.createDirectories(q.getParent());
    ok(
        CliRunner.run(
            "quantize",
            "--model",
            model.toString(),
            "--calibration",
            probes.toString(),
            "--warehouse",
            w,
            "--run-id",
            "q4",
            "--method",
            "rtn",
            "--bits",
            "4",
            "--group",
            "32",
            "--out",
            q.toString()));
    assertEquals(
        List.of(q.getFileName().toString(), "tiny-w4.onnx.data"), sortedNames(q.getParent()));
    assertEquals(
        bytesOf(model, "model.embed_tokens.weight"), bytesOf(q, "model.embed_tokens.weight"));
    assertEquals(elemType, logitsType(q), "quantize keeps the model's element type");
  }

  /** The element type of the model's {@code logits} output. */
  private static int logitsType(Path modelFile) {
    return OnnxModel.load(modelFile).graph().getOutputList().stream()
        .filter(o -> o.getName().equals("logits"))
        .findFirst()
        .orElseThrow()
        .getType()
        .getTensorType()
        .getElemType();
  }

  /** The stored bytes of an initializer, read through its external-data reference. */
  private static java.nio.ByteBuffer bytesOf(Path modelFile, String name) throws Exception {
    for (var t : OnnxModel.load(modelFile).graph().getInitializerList()) {
      if (t.getName().equals(name)) {
        long offset = 0;
        long length = 0;
        String location = null;
        for (var e : t.getExternalDataList()) {
          switch (e.getKey()) {
            case "offset" -> offset = Long.parseLong(e.getValue());
            case "length" -> length = Long.parseLong(e.getValue());
            case "location" -> location = e.getValue();
            default -> {}
          }
        }
        assertEquals(
            ai.onnx.proto.OnnxMl.TensorProto.DataLocation.EXTERNAL, t.getDataLocation(), name);
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate((int) length);
        try (var ch = java.nio.channels.FileChannel.open(modelFile.resolveSibling(location))) {
          ch.read(b, offset);
        }
        return b.flip();
      }
    }
    throw new AssertionError("no initializer " + name + " in " + modelFile);
  }

  private static List<String> sortedNames(Path dir) throws Exception {
    try (var files = Files.list(dir)) {
      return files.map(p -> p.getFileName().toString()).sorted().toList();
    }
  }

  @Test
  void badSynthInputIsOneLineAndWritesNothing() throws Exception {
    for (String[] args :
        List.of(
            new String[] {"--shape", "gpt9", "--layers", "1", "--vocab", "10"},
            new String[] {"--layers", "0", "--vocab", "10"},
            new String[] {"--layers", "1", "--vocab", "10", "--dtype", "int3"})) {
      List<String> all =
          new ArrayList<>(List.of("synth", "--out", tmp.resolve("bad.onnx").toString()));
      all.addAll(List.of(args));
      Result r = CliRunner.run(all.toArray(new String[0]));
      assertEquals(2, r.exitCode(), r.err());
      assertTrue(r.err().startsWith("headwise: error: "), r.err());
      assertEquals(1, r.err().strip().lines().count(), r.err());
    }
    try (var files = Files.list(tmp)) {
      assertEquals(0, files.count());
    }
  }

  private static Result ok(Result r) {
    assertEquals(0, r.exitCode(), r.err());
    return r;
  }
}
