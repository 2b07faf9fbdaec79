package io.headwise.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.StringStringEntryProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.TypeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import io.headwise.graph.TestModels;
import io.headwise.jobs.cli.CliRunner;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The bad-input rows of the fault matrix (docs/fault-matrix.md): each runs the real command line
 * and asserts exit code 2, one {@code headwise: error:} line naming the problem (plus one
 * usage-hint line for command-line errors), no stack trace, and that the warehouse it names was not
 * created; plus the rows for sequences beyond a model's stated positions (a warning, exit 0). Each
 * row prints its observed behaviour ({@link FaultMatrixRows}). Most fail before Spark starts; the
 * JSONL rows fail while Spark reads the sources, before any table is written.
 */
class FaultMatrixTest {
  @TempDir static Path tmp;

  static Path wh;
  static String model;
  static Path ids;

  @BeforeAll
  static void files() throws Exception {
    wh = tmp.resolve("wh");
    model = TestModels.stories260k().toString();
    ids = TestModels.stories260kCalibration();
    Files.writeString(tmp.resolve("text.onnx"), "this is not an ONNX model\n");
    byte[] bytes = Files.readAllBytes(TestModels.stories260k());
    Files.write(tmp.resolve("truncated.onnx"), Arrays.copyOf(bytes, bytes.length / 2));
    Files.write(tmp.resolve("identity.onnx"), identity(null).toByteArray());
    Files.write(tmp.resolve("fused.onnx"), fusedAttention().toByteArray());
    Files.write(tmp.resolve("external.onnx"), identity("missing.bin").toByteArray());
    Files.writeString(tmp.resolve("vocab.json"), "[[1, 2, 600]]");
    Files.writeString(tmp.resolve("negative.json"), "[[1, -2, 3]]");
    Files.writeString(tmp.resolve("ids.json"), "[[1, 2, 3, 4]]");
    Files.writeString(tmp.resolve("mask.json"), "[[1, 1, 1]]");
    Files.writeString(tmp.resolve("empty.jsonl"), "");
    Files.writeString(
        tmp.resolve("malformed.jsonl"), "{\"sample_id\": \"a\", \"input_ids\": [1, 2]}\n{oops\n");
    Files.writeString(tmp.resolve("bad.properties"), "no_such_key=1\n");
    Files.writeString(tmp.resolve("a-file"), "x");
    StringBuilder tokens = new StringBuilder("[[1");
    for (int i = 1; i < 700; i++) {
      tokens.append(", ").append(1 + i * 37 % 500);
    }
    Files.writeString(tmp.resolve("long700.json"), tokens.append("]]").toString());
    // the stories260k graph computes its rotary positions and states no limit; a Hugging Face
    // config.json next to the file states the 512 positions its llama2.c header gives
    Path stated = Files.createDirectories(tmp.resolve("stated"));
    Files.createSymbolicLink(stated.resolve("stories260k.onnx"), TestModels.stories260k());
    Files.writeString(stated.resolve("config.json"), "{\"max_position_embeddings\": 512}\n");
  }

  static Stream<Arguments> rows() {
    String t = tmp.toString();
    List<Arguments> rows = new ArrayList<>();
    rows.add(
        row(
            "missing model",
            "model file not found",
            "profile",
            "--model",
            t + "/nope.onnx",
            "--calibration",
            t + "/empty.jsonl",
            "--warehouse",
            t + "/wh",
            "--run-id",
            "r"));
    rows.add(
        row("non-ONNX file", "cannot load ONNX model", "inspect", "--model", t + "/text.onnx"));
    rows.add(row("truncated model", "truncated", "inspect", "--model", t + "/truncated.onnx"));
    rows.add(
        row(
            "no attention",
            "has no attention block",
            "profile",
            "--model",
            t + "/identity.onnx",
            "--calibration",
            t + "/empty.jsonl",
            "--warehouse",
            t + "/wh",
            "--run-id",
            "r"));
    rows.add(
        row(
            "only an unsupported fused attention op",
            "fused attention",
            "profile",
            "--model",
            t + "/fused.onnx",
            "--calibration",
            t + "/empty.jsonl",
            "--warehouse",
            t + "/wh",
            "--run-id",
            "r"));
    rows.add(
        row(
            "missing external-data file",
            "missing.bin",
            "inspect",
            "--model",
            t + "/external.onnx"));
    rows.add(
        row(
            "ids outside the vocabulary",
            "vocabulary",
            "stats",
            "--model",
            model,
            "--input-ids",
            t + "/vocab.json"));
    rows.add(
        row("negative ids", "-2", "stats", "--model", model, "--input-ids", t + "/negative.json"));
    rows.add(
        row(
            "mask shape differs from the ids",
            "mask",
            "stats",
            "--model",
            model,
            "--input-ids",
            t + "/ids.json",
            "--attention-mask",
            t + "/mask.json"));
    rows.add(
        row(
            "empty JSONL",
            "no sample",
            "profile",
            "--model",
            model,
            "--calibration",
            t + "/empty.jsonl",
            "--warehouse",
            t + "/wh",
            "--run-id",
            "r"));
    rows.add(
        row(
            "malformed JSONL (line named)",
            "line 2",
            "profile",
            "--model",
            model,
            "--calibration",
            t + "/malformed.jsonl",
            "--warehouse",
            t + "/wh",
            "--run-id",
            "r"));
    for (String f : List.of("0", "1.5", "NaN")) {
      rows.add(
          row(
              "--kv-fraction " + f,
              "outside (0, 1]",
              "plan",
              "--method",
              "duo",
              "--warehouse",
              t + "/wh",
              "--stats-run",
              "s",
              "--kv-fraction",
              f,
              "--length",
              "256",
              "--plan-id",
              "p"));
    }
    rows.add(
        row(
            "--length 0",
            "not positive",
            "plan",
            "--method",
            "duo",
            "--warehouse",
            t + "/wh",
            "--stats-run",
            "s",
            "--kv-fraction",
            "0.5",
            "--length",
            "0",
            "--plan-id",
            "p"));
    rows.add(
        row(
            "unknown method",
            "nosuch",
            "plan",
            "--method",
            "nosuch",
            "--warehouse",
            t + "/wh",
            "--stats-run",
            "s",
            "--kv-fraction",
            "0.5",
            "--length",
            "256",
            "--plan-id",
            "p"));
    rows.add(
        row(
            "warehouse path is a file",
            "is a file",
            "plan",
            "--method",
            "duo",
            "--warehouse",
            t + "/a-file",
            "--stats-run",
            "s",
            "--kv-fraction",
            "0.5",
            "--length",
            "256",
            "--plan-id",
            "p"));
    rows.add(
        row(
            "--threads -3",
            "--threads must be >= 0",
            "profile",
            "--model",
            model,
            "--calibration",
            t + "/empty.jsonl",
            "--warehouse",
            t + "/wh",
            "--run-id",
            "r",
            "--threads",
            "-3"));
    rows.add(
        row(
            "--run-id \"\"",
            "--run-id must not be empty",
            "profile",
            "--model",
            model,
            "--calibration",
            t + "/empty.jsonl",
            "--warehouse",
            t + "/wh",
            "--run-id",
            ""));
    rows.add(
        row(
            "bad --master",
            "is not a Spark master URL",
            "profile",
            "--model",
            model,
            "--calibration",
            t + "/empty.jsonl",
            "--warehouse",
            t + "/wh",
            "--run-id",
            "r",
            "--master",
            "nowhere"));
    rows.add(
        row(
            "unknown option (usage hint line)",
            "--no-such-option",
            "plan",
            "--method",
            "duo",
            "--warehouse",
            t + "/wh",
            "--stats-run",
            "s",
            "--kv-fraction",
            "0.5",
            "--length",
            "256",
            "--plan-id",
            "p",
            "--no-such-option"));
    rows.add(
        row(
            "unknown --config key",
            "no_such_key",
            "plan",
            "--config",
            t + "/bad.properties",
            "--method",
            "duo",
            "--warehouse",
            t + "/wh",
            "--stats-run",
            "s",
            "--kv-fraction",
            "0.5",
            "--length",
            "256",
            "--plan-id",
            "p"));
    rows.add(
        row(
            "export --out equal to --model",
            "is the input model",
            "export",
            "--model",
            model,
            "--plan-id",
            "p",
            "--warehouse",
            t + "/wh",
            "--out",
            model));
    rows.add(
        row(
            "unwritable --out (a folder on its path is a file)",
            "is not a directory",
            "export",
            "--model",
            model,
            "--plan-id",
            "p",
            "--warehouse",
            t + "/wh",
            "--out",
            t + "/a-file/sub/out.onnx"));
    rows.add(
        row(
            "sequence longer than a learned position table (MiniLM, 512)",
            "accepts at most 512",
            "stats",
            "--model",
            "default",
            "--input-ids",
            t + "/long700.json"));
    rows.add(
        row(
            "maintain --retain-hours -1",
            "--retain-hours",
            "maintain",
            "--warehouse",
            t,
            "--retain-hours",
            "-1"));
    return rows.stream();
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("rows")
  void badInputIsOneLineExitTwoAndWritesNothing(String name, String expected, String[] args) {
    CliRunner.Result r = CliRunner.run(args);
    assertEquals(2, r.exitCode(), name + ": " + r.err());
    List<String> lines =
        r.err().lines().filter(l -> !l.isBlank() && !l.startsWith("WARNING")).toList();
    assertTrue(lines.get(0).startsWith("headwise: error: "), name + ": " + r.err());
    assertTrue(lines.get(0).contains(expected), name + ": " + r.err());
    assertTrue(
        lines.size() == 1 || lines.size() == 2 && lines.get(1).startsWith("Usage: "),
        name + ": " + r.err());
    assertFalse(r.err().contains("\tat ") || r.err().contains("Exception"), name + ": " + r.err());
    assertFalse(Files.exists(wh), name + " created the warehouse");
    assertFalse(Files.exists(tmp.resolve("a-file/sub")), name + " wrote under --out");
    FaultMatrixRows.print(
        name,
        List.of(args),
        FaultMatrixRows.placeholders(tmp),
        r.exitCode(),
        String.join("\n", lines),
        "not created");
  }

  /**
   * Sequences past the positions a model states it was built for run, with one warning line
   * (stories260k computes rotary positions in the graph, so only a config.json next to it states
   * its 512); where nothing states a limit they run without one.
   */
  @Test
  void sequencesBeyondTheStatedPositionsRunWithAWarning() {
    String[] stated = {
      "stats", "--model", tmp + "/stated/stories260k.onnx", "--input-ids", tmp + "/long700.json"
    };
    CliRunner.Result r = CliRunner.run(stated);
    assertEquals(0, r.exitCode(), r.err());
    List<String> warnings = r.err().lines().filter(l -> l.startsWith("headwise: warning")).toList();
    assertEquals(1, warnings.size(), r.err());
    assertTrue(
        warnings.get(0).contains("1 sequence is longer than the 512 positions")
            && warnings.get(0).contains("max_position_embeddings in ")
            && warnings.get(0).contains("longest 700 tokens"),
        r.err());
    assertFalse(r.out().isBlank(), "no statistics printed");
    FaultMatrixRows.print(
        "sequence beyond the positions a config.json states (stories260k, 700 > 512)",
        List.of(stated),
        FaultMatrixRows.placeholders(tmp),
        r.exitCode(),
        warnings.get(0) + " (statistics printed)",
        "no warehouse (stats)");

    String[] unstated = {"stats", "--model", model, "--input-ids", tmp + "/long700.json"};
    CliRunner.Result u = CliRunner.run(unstated);
    assertEquals(0, u.exitCode(), u.err());
    assertFalse(u.err().contains("headwise: warning"), u.err());
    FaultMatrixRows.print(
        "sequence beyond positions nothing states (stories260k as shipped, 700 tokens)",
        List.of(unstated),
        FaultMatrixRows.placeholders(tmp),
        u.exitCode(),
        "no warning: the limit is unknown (statistics printed)",
        "no warehouse (stats)");
  }

  private static Arguments row(String name, String expected, String... args) {
    return Arguments.of(name, expected, args);
  }

  private static ModelProto identity(String externalData) {
    ValueInfoProto in = value("input_ids", TensorProto.DataType.INT64_VALUE);
    ValueInfoProto out = value("y", TensorProto.DataType.INT64_VALUE);
    GraphProto.Builder g =
        GraphProto.newBuilder()
            .setName("g")
            .addInput(in)
            .addOutput(out)
            .addNode(
                NodeProto.newBuilder().setOpType("Identity").addInput("input_ids").addOutput("y"));
    if (externalData != null) {
      g.addInitializer(
          TensorProto.newBuilder()
              .setName("w")
              .addDims(4)
              .setDataType(TensorProto.DataType.FLOAT_VALUE)
              .setDataLocation(TensorProto.DataLocation.EXTERNAL)
              .addExternalData(
                  StringStringEntryProto.newBuilder().setKey("location").setValue(externalData))
              .addExternalData(
                  StringStringEntryProto.newBuilder().setKey("length").setValue("16")));
    }
    return ModelProto.newBuilder()
        .setIrVersion(8)
        .setGraph(g)
        .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(17))
        .build();
  }

  /** One ONNX (opset 23) Attention node over q, k, v: a fused op headwise refuses by name. */
  private static ModelProto fusedAttention() {
    GraphProto.Builder g = GraphProto.newBuilder().setName("g");
    for (String n : List.of("q", "k", "v")) {
      g.addInput(value(n, TensorProto.DataType.FLOAT_VALUE));
    }
    g.addOutput(value("y", TensorProto.DataType.FLOAT_VALUE));
    // SparseAttention stays unsupported (ONNX Attention, GQA, MHA and com.microsoft Attention are
    // expanded now)
    g.addNode(
        NodeProto.newBuilder()
            .setOpType("SparseAttention")
            .setDomain("com.microsoft")
            .addInput("q")
            .addInput("k")
            .addInput("v")
            .addOutput("y"));
    return ModelProto.newBuilder()
        .setIrVersion(10)
        .setGraph(g)
        .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(23))
        .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("com.microsoft").setVersion(1))
        .build();
  }

  private static ValueInfoProto value(String name, int elemType) {
    TensorShapeProto.Builder shape =
        TensorShapeProto.newBuilder()
            .addDim(TensorShapeProto.Dimension.newBuilder().setDimParam("b"))
            .addDim(TensorShapeProto.Dimension.newBuilder().setDimParam("t"));
    return ValueInfoProto.newBuilder()
        .setName(name)
        .setType(
            TypeProto.newBuilder()
                .setTensorType(TypeProto.Tensor.newBuilder().setElemType(elemType).setShape(shape)))
        .build();
  }
}
