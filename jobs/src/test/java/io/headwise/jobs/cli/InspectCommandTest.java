package io.headwise.jobs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.headwise.graph.ElementType;
import io.headwise.graph.GraphBuilder;
import io.headwise.graph.Tensors;
import io.headwise.graph.TestModels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class InspectCommandTest {
  @TempDir Path tmp;

  @Test
  void jsonForStories260k() throws Exception {
    CliRunner.Result r =
        CliRunner.run("inspect", "--model", TestModels.stories260k().toString(), "--json");
    assertEquals(0, r.exitCode(), r.err());
    JsonNode root = new ObjectMapper().readTree(r.out());
    assertTrue(root.get("model_id").asText().startsWith("sha256:"));
    assertEquals(17, root.get("opset").asInt());
    assertEquals(5, root.get("layers").size());
    JsonNode l0 = root.get("layers").get(0);
    assertEquals(0, l0.get("layer").asInt());
    assertEquals(8, l0.get("num_heads").asInt());
    assertEquals(4, l0.get("num_kv_heads").asInt());
    assertEquals(8, l0.get("head_dim").asInt());
    assertTrue(l0.get("causal").asBoolean());
    assertFalse(l0.get("probabilities").asText().isEmpty());
    assertEquals(0, root.get("unsupported").size());
  }

  @Test
  void reportsTheTiledCore() throws Exception {
    CliRunner.Result r =
        CliRunner.run(
            "inspect",
            "--model",
            TestModels.stories260k().toString(),
            "--json",
            "--length",
            "2048",
            "--query-block",
            "100");
    assertEquals(0, r.exitCode(), r.err());
    JsonNode t = new ObjectMapper().readTree(r.out()).get("tiling");
    assertEquals(2048, t.get("length").asInt());
    assertEquals(100, t.get("query_block").asInt());
    assertEquals("[0,1,2,3,4]", t.get("tiled_layers").toString());
    assertEquals(0, t.get("untiled_layers").size());
    // a budget: 8 heads × 2048 keys × 4 bytes × 6 tensors = 384 KiB per row; 16 MiB → 42 rows (cap
    // 256)
    r =
        CliRunner.run(
            "inspect",
            "--model",
            TestModels.stories260k().toString(),
            "--json",
            "--length",
            "2048",
            "--attention-memory-mb",
            "16");
    assertEquals(0, r.exitCode(), r.err());
    t = new ObjectMapper().readTree(r.out()).get("tiling");
    assertEquals(42, t.get("query_block").asInt());
    assertEquals(16, t.get("attention_memory_mb").asInt());
    r =
        CliRunner.run(
            "inspect", "--model", TestModels.stories260k().toString(), "--length", "4096");
    assertEquals(0, r.exitCode(), r.err());
    assertTrue(r.out().contains("query blocks of"), r.out());
  }

  @Test
  void badTilingOptions() {
    String model = TestModels.stories260k().toString();
    assertBadInput(
        CliRunner.run("inspect", "--model", model, "--query-block", "0"),
        "--query-block takes a positive number");
    assertBadInput(
        CliRunner.run("inspect", "--model", model, "--attention-memory-mb", "-3"),
        "--attention-memory-mb takes a positive number");
    assertBadInput(
        CliRunner.run(
            "inspect", "--model", model, "--attention-memory-mb", "1", "--length", "65536"),
        "is too small for one query row");
    assertBadInput(
        CliRunner.run(
            "stats",
            "--model",
            model,
            "--input-ids",
            TestModels.stories260kCalibration().toString(),
            "--query-block",
            "-2"),
        "--query-block takes a positive");
  }

  @Test
  void statsAreTheSameTiledAndUntiled() throws Exception {
    String model = TestModels.stories260k().toString();
    String ids = TestModels.stories260kCalibration().toString();
    CliRunner.Result tiled =
        CliRunner.run(
            "stats", "--model", model, "--input-ids", ids, "--json", "--query-block", "40");
    CliRunner.Result untiled =
        CliRunner.run(
            "stats", "--model", model, "--input-ids", ids, "--json", "--query-block", "100000");
    assertEquals(0, tiled.exitCode(), tiled.err());
    assertEquals(0, untiled.exitCode(), untiled.err());
    JsonNode a = new ObjectMapper().readTree(tiled.out()).get("heads");
    JsonNode b = new ObjectMapper().readTree(untiled.out()).get("heads");
    assertEquals(b.size(), a.size());
    int compared = 0;
    for (int i = 0; i < a.size(); i++) {
      var names = b.get(i).fieldNames();
      while (names.hasNext()) {
        String n = names.next();
        assertEquals(b.get(i).get(n).asDouble(), a.get(i).get(n).asDouble(), 1e-4, n);
        compared++;
      }
    }
    assertTrue(compared > 40 * 20, "compared " + compared);
  }

  @Test
  void defaultModelWithoutModelOption() throws Exception {
    CliRunner.Result r = CliRunner.run("inspect", "--json");
    assertEquals(0, r.exitCode(), r.err());
    JsonNode root = new ObjectMapper().readTree(r.out());
    assertEquals(11, root.get("opset").asInt());
    assertEquals(6, root.get("layers").size());
    for (JsonNode l : root.get("layers")) {
      assertEquals(12, l.get("num_heads").asInt());
      assertEquals(32, l.get("head_dim").asInt());
      assertFalse(l.get("causal").asBoolean());
    }
  }

  @Test
  void tableIsReadable() {
    CliRunner.Result r = CliRunner.run("inspect", "--model", "default");
    assertEquals(0, r.exitCode(), r.err());
    assertTrue(r.out().contains("bidirectional"));
    assertTrue(r.out().contains("unsupported: none"));
  }

  @Test
  void missingPath() {
    assertBadInput(
        CliRunner.run("inspect", "--model", tmp.resolve("nope.onnx").toString()),
        "model file not found");
  }

  @Test
  void notOnnx() throws Exception {
    Path f = tmp.resolve("notes.onnx");
    Files.writeString(f, "this is not a model\n");
    assertBadInput(CliRunner.run("inspect", "--model", f.toString()), "cannot load ONNX model");
  }

  @Test
  void truncatedOnnx() throws Exception {
    byte[] all = Files.readAllBytes(TestModels.stories260k());
    Path f = tmp.resolve("cut.onnx");
    Files.write(f, Arrays.copyOf(all, all.length / 3));
    assertBadInput(CliRunner.run("inspect", "--model", f.toString()), "truncated");
  }

  @Test
  void graphWithoutAttention() throws Exception {
    Path f = tmp.resolve("mlp.onnx");
    GraphProto.Builder g = GraphProto.newBuilder().setName("mlp");
    GraphBuilder b = new GraphBuilder(g, 17, "t/");
    b.addInput("input_ids", ElementType.INT64, "batch", "seq");
    g.addInitializer(Tensors.floats("emb", new long[] {10, 4}, new float[40]));
    String e = b.op("Gather", "emb", "input_ids");
    b.identity(b.op("Relu", e), "out");
    b.addOutput("out", ElementType.FLOAT, "batch", "seq", "4");
    ModelProto m =
        ModelProto.newBuilder()
            .setIrVersion(8)
            .setGraph(g)
            .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(17))
            .build();
    Files.write(f, m.toByteArray());
    CliRunner.Result r = CliRunner.run("inspect", "--model", f.toString());
    assertBadInput(r, "has no attention block");
    assertEquals(
        List.of(),
        List.of(tmp.toFile().list()).stream().filter(n -> !n.equals("mlp.onnx")).toList());
  }

  @Test
  void negativeBatchSize() {
    assertBadInput(
        CliRunner.run(
            "stats",
            "--model",
            TestModels.stories260k().toString(),
            "--input-ids",
            TestModels.stories260kCalibration().toString(),
            "--batch-size",
            "-1"),
        "--batch-size must be a positive");
  }

  @Test
  void everySubcommandHasHelp() {
    for (String cmd : List.of("inspect", "stats", "demo")) {
      CliRunner.Result r = CliRunner.run(cmd, "--help");
      assertEquals(0, r.exitCode(), cmd);
      assertTrue(r.out().contains("Usage: headwise " + cmd), r.out());
    }
  }

  static void assertBadInput(CliRunner.Result r, String expected) {
    assertEquals(2, r.exitCode(), r.err());
    assertEquals("", r.out());
    String[] lines = r.err().strip().split("\n");
    assertEquals(1, lines.length, r.err());
    assertTrue(lines[0].startsWith("headwise: error: ") && lines[0].contains(expected), r.err());
  }
}
