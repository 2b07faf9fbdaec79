package io.headwise.export.attention;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.FunctionProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import io.headwise.export.attention.HeadwiseAttentionExport.ExternalData;
import io.headwise.graph.AttentionLocator;
import io.headwise.graph.AttentionMap;
import io.headwise.graph.ModelInputs;
import io.headwise.graph.OnnxModel;
import io.headwise.graph.TestModels;
import io.headwise.profilers.IdArrays;
import io.headwise.schemas.HeadwiseException;
import io.headwise.schemas.PlanMeta;
import io.headwise.schemas.PlanRow;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The written file: its structure, that a fresh ONNX Runtime session runs it from its path, and
 * external data.
 */
class ExportedFileTest {
  @Test
  void stories260kFileStructureAndFreshSession(@TempDir Path dir) throws Exception {
    OnnxModel model = OnnxModel.load(TestModels.stories260k());
    AttentionMap map = AttentionLocator.locate(model);
    PlanMeta meta = AttentionTestSupport.meta(model, map, "stream", "streaming_llm");
    List<PlanRow> rows =
        AttentionTestSupport.rows(
            map,
            PlanRow.KV_HEAD,
            (l, h) -> AttentionTestSupport.streaming(meta, PlanRow.KV_HEAD, l, h, 4, 16, 0));
    Path out = dir.resolve("compressed").resolve("stories260k-stream.onnx");

    HeadwiseAttentionExport summary = HeadwiseAttentionExporter.export(model, map, meta, rows, out);

    assertEquals(out.toAbsolutePath().normalize(), summary.output());
    assertEquals(5, summary.layersRewritten());
    assertEquals(ExternalData.EMBEDDED, summary.externalData());
    assertEquals(List.of(), summary.dataFiles());
    assertEquals(
        List.of("pre-repeat", "pre-repeat", "pre-repeat", "pre-repeat", "pre-repeat"),
        summary.kvInputs());
    try (Stream<Path> files = Files.list(out.getParent())) {
      assertEquals(
          List.of(out.getFileName().toString()),
          files.map(p -> p.getFileName().toString()).toList(),
          "no temporary files are left");
    }
    ModelProto written;
    try (InputStream in = Files.newInputStream(out)) {
      written = ModelProto.parseFrom(in);
    }
    List<NodeProto> ops = OpUnderTest.opNodes(written);
    assertEquals(5, ops.size(), "one HeadwiseAttention node per layer");
    for (NodeProto n : ops) {
      assertEquals(HeadwiseAttentionOp.DOMAIN, n.getDomain());
      assertEquals(4, n.getInputCount());
    }
    assertEquals(
        0,
        written.getGraph().getNodeList().stream()
            .filter(n -> n.getOpType().equals("Softmax"))
            .count(),
        "the dense softmax nodes are gone");
    assertEquals(1, written.getFunctionsCount());
    FunctionProto f = written.getFunctions(0);
    assertEquals(HeadwiseAttentionOp.DOMAIN, f.getDomain());
    assertEquals(HeadwiseAttentionOp.OP_TYPE, f.getName());
    assertEquals(
        List.of(""), f.getOpsetImportList().stream().map(OperatorSetIdProto::getDomain).toList());
    assertEquals(
        17, f.getOpsetImport(0).getVersion(), "the body is written against the model's opset");
    assertTrue(
        written.getOpsetImportList().stream()
            .anyMatch(
                o ->
                    o.getDomain().equals(HeadwiseAttentionOp.DOMAIN)
                        && o.getVersion() == HeadwiseAttentionOp.VERSION));

    int[][] calib = IdArrays.read(TestModels.stories260kCalibration(), "calib");
    long[][] ids = AttentionTestSupport.take(calib, 2, 40);
    long[][] mask = AttentionTestSupport.ones(ids);
    float[] inMemory =
        AttentionTestSupport.run(
                model,
                HeadwiseAttentionExporter.rewrite(model, map, meta, rows),
                ids,
                mask,
                Set.of("logits"))
            .get("logits")
            .values();
    float[] fromFile;
    try (OrtSession.SessionOptions options = new OrtSession.SessionOptions();
        OrtSession session =
            OrtEnvironment.getEnvironment().createSession(out.toString(), options)) {
      fromFile =
          AttentionTestSupport.run(
                  session, ModelInputs.of(written.getGraph()), ids, mask, Set.of("logits"))
              .get("logits")
              .values();
    }
    assertEquals(inMemory.length, fromFile.length);
    for (int i = 0; i < inMemory.length; i++) {
      assertEquals(inMemory[i], fromFile[i], 1e-6);
    }
  }

  @Test
  void externalDataIsCopiedNextToTheOutput(@TempDir Path dir) throws Exception {
    Path source = Files.createDirectories(dir.resolve("source"));
    OnnxModel model =
        new TinyTransformer().writeWithExternalData(source, "tiny.onnx", "tiny.weights");
    AttentionMap map = AttentionLocator.locate(model);
    PlanMeta meta = AttentionTestSupport.meta(model, map, "dense", "dense");
    List<PlanRow> rows = AttentionTestSupport.densePlan(meta, map);
    Path out = dir.resolve("exported").resolve("tiny-headwise.onnx");

    HeadwiseAttentionExport summary = HeadwiseAttentionExporter.export(model, map, meta, rows, out);

    assertEquals(ExternalData.COPIED, summary.externalData());
    Path data = out.resolveSibling("tiny.weights");
    assertEquals(List.of(data.toAbsolutePath().normalize()), summary.dataFiles());
    assertFalse(Files.isSymbolicLink(data));
    assertFalse(Files.isSameFile(data, source.resolve("tiny.weights")));
    assertEquals(-1, Files.mismatch(data, source.resolve("tiny.weights")));
    assertTrue(Files.size(out) < Files.size(data), "the weights stay external");
    long[][] ids = {{3, 9, 4, 17, 22, 5, 8, 1}};
    long[][] mask = AttentionTestSupport.ones(ids);
    float[] original =
        AttentionTestSupport.run(model, model.proto(), ids, mask, Set.of("hidden"))
            .get("hidden")
            .values();
    float[] exported;
    try (OrtSession.SessionOptions options = new OrtSession.SessionOptions();
        OrtSession session =
            OrtEnvironment.getEnvironment().createSession(out.toString(), options)) {
      exported =
          AttentionTestSupport.run(
                  session, ModelInputs.of(model.graph()), ids, mask, Set.of("hidden"))
              .get("hidden")
              .values();
    }
    float[] inMemory =
        AttentionTestSupport.run(
                model,
                HeadwiseAttentionExporter.rewrite(model, map, meta, rows),
                ids,
                mask,
                Set.of("hidden"))
            .get("hidden")
            .values();
    for (int i = 0; i < original.length; i++) {
      assertEquals(original[i], exported[i], 1e-5);
      assertEquals(
          exported[i],
          inMemory[i],
          0.0,
          "in memory, external data resolves against the source directory");
    }

    Path linked = dir.resolve("linked").resolve("tiny-headwise.onnx");
    HeadwiseAttentionExport link =
        HeadwiseAttentionExporter.export(
            model, map, meta, rows, linked, ExternalDataPlacement.HARD_LINK);
    assertEquals(ExternalData.HARD_LINKED, link.externalData());
    assertFalse(Files.isSymbolicLink(linked.resolveSibling("tiny.weights")));
    assertTrue(
        Files.isSameFile(linked.resolveSibling("tiny.weights"), source.resolve("tiny.weights")));

    Path sameDir = source.resolve("tiny-headwise.onnx");
    HeadwiseAttentionExport inPlace =
        HeadwiseAttentionExporter.export(model, map, meta, rows, sameDir);
    assertEquals(ExternalData.SAME_DIRECTORY, inPlace.externalData());
    try (Stream<Path> files = Files.list(source)) {
      assertEquals(
          Set.of("tiny.onnx", "tiny.weights", "tiny-headwise.onnx"),
          Set.copyOf(files.map(p -> p.getFileName().toString()).toList()));
    }
  }

  @Test
  void aConflictingDataFileWritesNothing(@TempDir Path dir) throws Exception {
    Path source = Files.createDirectories(dir.resolve("source"));
    OnnxModel model =
        new TinyTransformer().writeWithExternalData(source, "tiny.onnx", "tiny.weights");
    AttentionMap map = AttentionLocator.locate(model);
    PlanMeta meta = AttentionTestSupport.meta(model, map, "dense", "dense");
    Path target = Files.createDirectories(dir.resolve("target"));
    Files.writeString(target.resolve("tiny.weights"), "someone else's weights");
    Path out = target.resolve("tiny-headwise.onnx");

    HeadwiseException e =
        assertThrows(
            HeadwiseException.class,
            () ->
                HeadwiseAttentionExporter.export(
                    model, map, meta, AttentionTestSupport.densePlan(meta, map), out));

    assertTrue(e.getMessage().contains("tiny.weights"), e.getMessage());
    try (Stream<Path> files = Files.list(target)) {
      assertEquals(List.of("tiny.weights"), files.map(p -> p.getFileName().toString()).toList());
    }
    HeadwiseException dirOut =
        assertThrows(
            HeadwiseException.class,
            () ->
                HeadwiseAttentionExporter.export(
                    model, map, meta, AttentionTestSupport.densePlan(meta, map), target));
    assertTrue(dirOut.getMessage().contains("is a directory"), dirOut.getMessage());
  }
}
