package io.headwise.graph;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.StringStringEntryProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import io.headwise.graph.SyntheticAttention.Mask;
import io.headwise.graph.SyntheticAttention.Scale;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The locator on graphs that reproduce the attention forms of the TorchScript and dynamo {@code
 * torch.onnx} exporters and of ONNX Runtime's optimizers, each run through the probe in ONNX
 * Runtime.
 */
class AttentionPatternsTest {
  private static final double SCALE = 1.0 / Math.sqrt(8);

  @TempDir Path dir;

  private static GraphIndex indexOf(OnnxModel m) {
    return new GraphIndex(FunctionInliner.inline(m.proto()).getGraph());
  }

  private static void assertBlocks(
      AttentionMap map, int layers, int heads, int kvHeads, boolean causal) {
    assertEquals(layers, map.numLayers(), "layers");
    assertTrue(map.unsupported().isEmpty(), () -> map.unsupported().toString());
    for (AttentionBlock b : map.blocks()) {
      assertEquals(heads, b.numHeads(), "heads");
      assertEquals(kvHeads, b.numKvHeads(), "kv heads");
      assertEquals(8, b.headDim(), "head dim");
      assertEquals(causal, b.causal(), "causal");
    }
  }

  @Test
  void sdpaSplitScaleWithBoolMaskNanGuardAndRepeatedKv() throws IOException {
    SyntheticAttention s = new SyntheticAttention();
    s.scale = Scale.SPLIT_SQRT;
    s.mask = Mask.SDPA_BOOL_WHERE_ADD;
    s.nanGuard = true;
    s.kvHeads = 2;
    OnnxModel m = s.write(dir, "sdpa.onnx");
    AttentionMap map = AttentionLocator.locate(m);
    assertBlocks(map, 2, 4, 2, true);
    GraphIndex idx = indexOf(m);
    for (AttentionBlock b : map.blocks()) {
      assertEquals("split", b.scaleForm());
      assertEquals(SCALE, b.scale(), 1e-6);
      NodeProto guard = idx.producer(b.probabilitiesTensor()).orElseThrow();
      assertEquals("Where", guard.getOpType(), "the tap is after the NaN guard");
      assertEquals("IsNaN", idx.producer(guard.getInput(0)).orElseThrow().getOpType());
      // the operand scales are stripped: Q comes from the head transpose, not from Mul(Q, √s)
      assertEquals("Transpose", idx.producer(b.queryTensor()).orElseThrow().getOpType());
      assertEquals(2, b.groupSize());
      assertEquals(1, b.kvHeadOf(3));
    }
  }

  @Test
  void gpt2WhereCausalMaskWithDivScale() throws IOException {
    SyntheticAttention s = new SyntheticAttention();
    s.scale = Scale.DIV_SCORES;
    s.mask = Mask.GPT2_WHERE_CAUSAL;
    s.opset = 14;
    AttentionMap map = AttentionLocator.locate(s.write(dir, "gpt2.onnx"));
    assertBlocks(map, 2, 4, 4, true);
    for (AttentionBlock b : map.blocks()) {
      assertEquals("div", b.scaleForm());
      assertEquals(SCALE, b.scale(), 1e-6);
      assertEquals(2, b.maskTensors().size(), "the Where condition and the additive padding mask");
    }
  }

  @Test
  void bertPaddingMaskAtOpset11IsBidirectional() throws IOException {
    SyntheticAttention s = new SyntheticAttention();
    s.opset = 11;
    s.heads = 2;
    s.kvHeads = 2;
    s.layers = 3;
    AttentionMap map = AttentionLocator.locate(s.write(dir, "bert.onnx"));
    assertEquals(11, map.opset());
    assertBlocks(map, 3, 2, 2, false);
    assertEquals("mul", map.block(0).scaleForm());
    assertEquals(SCALE, map.block(2).scale(), 1e-6);
  }

  @Test
  void dropoutAndCastsBetweenSoftmaxAndMatMul() throws IOException {
    SyntheticAttention s = new SyntheticAttention();
    s.dropout = true;
    s.castAround = true;
    s.mask = Mask.GPT2_WHERE_CAUSAL;
    OnnxModel m = s.write(dir, "dropout.onnx");
    AttentionMap map = AttentionLocator.locate(m);
    assertBlocks(map, 2, 4, 4, true);
    GraphIndex idx = indexOf(m);
    for (AttentionBlock b : map.blocks()) {
      assertEquals("Dropout", idx.producer(b.probabilitiesTensor()).orElseThrow().getOpType());
      NodeProto pv = idx.consumers(b.probabilitiesTensor()).get(0);
      assertEquals("MatMul", pv.getOpType());
      assertEquals(b.pvMatMulNode(), pv.getName());
      assertEquals(ElementType.FLOAT, b.probabilitiesType());
    }
  }

  @Test
  void scaleComputedAtRunTimeIsMeasured() throws IOException {
    SyntheticAttention s = new SyntheticAttention();
    s.scale = Scale.DYNAMIC_DIV;
    AttentionMap map = AttentionLocator.locate(s.write(dir, "dynamic.onnx"));
    assertBlocks(map, 2, 4, 4, false);
    for (AttentionBlock b : map.blocks()) {
      assertEquals("div", b.scaleForm());
      assertEquals(SCALE, b.scale(), 1e-5);
    }
  }

  @Test
  void scaleComputedAtRunTimeAsAProductIsMeasured() throws IOException {
    SyntheticAttention s = new SyntheticAttention();
    s.scale = Scale.DYNAMIC_MUL;
    s.mask = Mask.GPT2_WHERE_CAUSAL;
    AttentionMap map = AttentionLocator.locate(s.write(dir, "dynamic-mul.onnx"));
    assertBlocks(map, 2, 4, 4, true);
    for (AttentionBlock b : map.blocks()) {
      assertEquals("mul", b.scaleForm());
      assertEquals(SCALE, b.scale(), 1e-5);
      assertEquals(2, b.maskTensors().size(), "the run-time scale is not taken for a mask");
    }
  }

  @Test
  void multiplicativeCausalMaskIsAMaskNotAScale() throws IOException {
    SyntheticAttention s = new SyntheticAttention();
    s.scale = Scale.DIV_SCORES;
    s.mask = Mask.GPT2_OLD_MULTIPLICATIVE;
    s.opset = 13;
    AttentionMap map = AttentionLocator.locate(s.write(dir, "gpt2-old.onnx"));
    assertBlocks(map, 2, 4, 4, true);
    for (AttentionBlock b : map.blocks()) {
      assertEquals("div", b.scaleForm());
      assertEquals(
          SCALE, b.scale(), 1e-6, "the structural scale, not one measured through the mask");
      assertEquals(
          3, b.maskTensors().size(), "padding add, the −1e4·(1 − b) term and the multiplier b");
    }
  }

  @Test
  void scaleOnTheQueryOnly() throws IOException {
    SyntheticAttention s = new SyntheticAttention();
    s.scale = Scale.QUERY_ONLY;
    s.mask = Mask.GPT2_WHERE_CAUSAL;
    OnnxModel m = s.write(dir, "qscale.onnx");
    AttentionMap map = AttentionLocator.locate(m);
    assertBlocks(map, 2, 4, 4, true);
    GraphIndex idx = indexOf(m);
    for (AttentionBlock b : map.blocks()) {
      assertEquals("query", b.scaleForm());
      assertEquals(SCALE, b.scale(), 1e-6);
      assertEquals("Transpose", idx.producer(b.queryTensor()).orElseThrow().getOpType());
    }
  }

  @Test
  void onnxRuntimeFusedMatMulWithAlphaAndTransposedKey() throws IOException {
    SyntheticAttention s = new SyntheticAttention();
    s.scale = Scale.FUSED_MATMUL;
    s.mask = Mask.SDPA_BOOL_WHERE_ADD;
    s.nanGuard = true;
    s.kvHeads = 1;
    OnnxModel m = s.write(dir, "fused.onnx");
    AttentionMap map = AttentionLocator.locate(m);
    assertBlocks(map, 2, 4, 1, true);
    GraphIndex idx = indexOf(m);
    for (AttentionBlock b : map.blocks()) {
      assertEquals("fused", b.scaleForm());
      assertEquals(SCALE, b.scale(), 1e-6);
      assertTrue(b.qkTransposesKey());
      NodeProto qk =
          idx.producer(b.scoresTensor())
              .map(n -> idx.producer(n.getInput(0)).orElseThrow())
              .orElseThrow();
      assertEquals("FusedMatMul", qk.getOpType());
      assertEquals(qk.getName(), b.qkMatMulNode());
      assertEquals(qk.getInput(1), b.keyTransposedTensor(), "K itself, transposed by the node");
    }
  }

  @Test
  void modelLocalFunctionsAreInlinedWithReferencedAttributes() throws IOException {
    SyntheticAttention s = new SyntheticAttention();
    s.asFunction = true;
    s.mask = Mask.NONE;
    s.kvHeads = 2;
    OnnxModel m = s.write(dir, "functions.onnx");
    assertEquals(1, m.proto().getFunctionsCount());
    AttentionMap map = AttentionLocator.locate(m);
    assertBlocks(map, 2, 4, 2, false);
    for (AttentionBlock b : map.blocks()) {
      assertEquals(SCALE, b.scale(), 1e-6, "the scale comes from the call site's attribute");
      assertTrue(b.softmaxNode().startsWith("hw_inl"), b.softmaxNode());
      assertTrue(
          b.softmaxNode().contains("layers." + b.layer() + ".self_attn.core"), b.softmaxNode());
    }
  }

  @Test
  void externalDataResolvesNextToTheModel() throws IOException {
    SyntheticAttention s = new SyntheticAttention();
    s.mask = Mask.GPT2_WHERE_CAUSAL;
    s.kvHeads = 2;
    ModelProto embedded = s.build();
    Path sub = Files.createDirectories(dir.resolve("model"));
    ModelProto external = externalize(embedded, sub.resolve("model.onnx.data"), "model.onnx.data");
    try (OutputStream out = Files.newOutputStream(sub.resolve("model.onnx"))) {
      external.writeTo(out);
    }
    OnnxModel m = OnnxModel.load(sub.resolve("model.onnx"));
    assertTrue(m.hasExternalData());
    assertBlocks(AttentionLocator.locate(m), 2, 4, 2, true);
  }

  @Test
  void headsFoldedIntoTheBatchAreReportedNotDropped() throws IOException {
    SyntheticAttention s = new SyntheticAttention();
    s.foldHeads = true;
    s.mask = Mask.NONE;
    AttentionMap map = AttentionLocator.locate(s.write(dir, "folded.onnx"));
    assertEquals(0, map.numLayers());
    assertEquals(2, map.unsupported().size());
    for (int l = 0; l < 2; l++) {
      UnsupportedAttention u = map.unsupported().get(l);
      assertEquals("Softmax", u.opType());
      assertEquals(l, u.layer());
      assertTrue(u.describe().contains("[batch, heads, queries, keys]"), u.describe());
    }
  }

  @Test
  void fusedAttentionOpsAreReportedWithTheirLayer() {
    // fused ops headwise does not expand (the ones it expands are tested in FusedAttentionTest and
    // FusedFixtures-based tests), named as exporters name them
    GraphProto.Builder g = GraphProto.newBuilder().setName("fused");
    GraphBuilder b = new GraphBuilder(g, 23, "");
    b.addInput("input_ids", ElementType.INT64, "batch", "seq");
    String x = b.op("Cast", List.of("input_ids"), GraphBuilder.intAttr("to", 1));
    g.addNode(node("PackedAttention", "com.microsoft", "node_packed_attention", x));
    g.addNode(node("PackedMultiHeadAttention", "com.microsoft", "node_packed_attention_1", x));
    g.addNode(node("SparseAttention", "com.microsoft", "/model/layers.7/attn/SparseAttention", x));
    g.addNode(
        node(
            "DecoderMaskedMultiHeadAttention",
            "com.microsoft",
            "DecoderMaskedMultiHeadAttention_3",
            x));
    g.addNode(node("LongformerAttention", "com.microsoft", "LongformerAttention_4", x));
    g.addNode(node("Softmax", "", "unrelated_softmax", x)); // a Softmax that feeds no MatMul(P, V)
    ModelProto proto =
        ModelProto.newBuilder()
            .setIrVersion(10)
            .setGraph(g)
            .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(23))
            .addOpsetImport(
                OperatorSetIdProto.newBuilder().setDomain("com.microsoft").setVersion(1))
            .build();
    AttentionMap map = AttentionLocator.locate(OnnxModel.of("mem", null, null, proto, "sha256:0"));
    assertEquals(0, map.numLayers());
    List<UnsupportedAttention> u = map.unsupported();
    assertEquals(5, u.size());
    assertEquals(List.of(0, 1, 7, 3, 4), u.stream().map(UnsupportedAttention::layer).toList());
    assertEquals("com.microsoft", u.get(0).domain());
    assertTrue(
        u.get(0)
            .describe()
            .startsWith("com.microsoft::PackedAttention (node 'node_packed_attention'"),
        u.get(0).describe());
    assertEquals("SparseAttention", u.get(2).opType());
    assertEquals("com.microsoft", u.get(4).domain());
    assertNull(u.get(4).reason());
  }

  @Test
  void attentionInsideIfBranchesIsReported() {
    // Optimum's merged decoders hold the decoder twice, in the two branches of an If on
    // use_cache_branch
    GraphProto.Builder then = GraphProto.newBuilder().setName("then");
    GraphBuilder t = new GraphBuilder(then, 14, "t/");
    String p = t.op("Softmax", List.of("outer_scores"), GraphBuilder.intAttr("axis", -1));
    t.identity(t.op("MatMul", p, "outer_v"), "then_out");
    t.addOutput("then_out", ElementType.FLOAT);
    GraphProto.Builder other = GraphProto.newBuilder().setName("else");
    GraphBuilder e = new GraphBuilder(other, 14, "e/");
    e.identity("outer_v", "else_out");
    e.addOutput("else_out", ElementType.FLOAT);
    GraphProto.Builder g = GraphProto.newBuilder().setName("merged");
    GraphBuilder b = new GraphBuilder(g, 14, "");
    b.addInput("input_ids", ElementType.INT64, "batch", "seq");
    b.addInput("use_cache_branch", ElementType.BOOL, "1");
    g.addNode(
        NodeProto.newBuilder()
            .setOpType("If")
            .setName("optimum::if")
            .addInput("use_cache_branch")
            .addOutput("out")
            .addAttribute(SyntheticAttention.graphAttr("then_branch", then.build()))
            .addAttribute(SyntheticAttention.graphAttr("else_branch", other.build())));
    ModelProto proto =
        ModelProto.newBuilder()
            .setIrVersion(8)
            .setGraph(g)
            .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(14))
            .build();
    AttentionMap map = AttentionLocator.locate(OnnxModel.of("mem", null, null, proto, "sha256:0"));
    assertEquals(0, map.numLayers());
    assertEquals(1, map.unsupported().size());
    UnsupportedAttention u = map.unsupported().get(0);
    assertEquals("If", u.opType());
    assertTrue(u.reason().contains("then_branch"), u.reason());
    assertTrue(u.describe().contains("main graph only"), u.describe());
  }

  @Test
  void noAttentionMeansAnEmptyMap() throws IOException {
    SyntheticAttention s = new SyntheticAttention();
    s.layers = 0;
    AttentionMap map = AttentionLocator.locate(s.write(dir, "mlp.onnx"));
    assertEquals(0, map.numLayers());
    assertTrue(map.unsupported().isEmpty());
    assertFalse(map.blocks().iterator().hasNext());
  }

  private static NodeProto node(String op, String domain, String name, String input) {
    return NodeProto.newBuilder()
        .setOpType(op)
        .setDomain(domain)
        .setName(name)
        .addInput(input)
        .addOutput(name + "_out")
        .build();
  }

  /**
   * Moves the data of every initializer of 1 KiB or more into {@code file} (4 KiB-aligned offsets),
   * as the exporters write external data.
   */
  static ModelProto externalize(ModelProto model, Path file, String location) throws IOException {
    GraphProto.Builder g = model.getGraph().toBuilder().clearInitializer();
    try (OutputStream out = Files.newOutputStream(file)) {
      long offset = 0;
      for (TensorProto t : model.getGraph().getInitializerList()) {
        byte[] raw = rawBytes(t);
        if (raw.length < 1024) {
          g.addInitializer(
              t); // small tensors (shape constants) stay inline, as onnx's size_threshold keeps
          // them
          continue;
        }
        long pad = (4096 - offset % 4096) % 4096;
        out.write(new byte[(int) pad]);
        offset += pad;
        out.write(raw);
        g.addInitializer(
            t.toBuilder()
                .clearFloatData()
                .clearInt64Data()
                .clearRawData()
                .setDataLocation(TensorProto.DataLocation.EXTERNAL)
                .addExternalData(
                    StringStringEntryProto.newBuilder().setKey("location").setValue(location))
                .addExternalData(
                    StringStringEntryProto.newBuilder()
                        .setKey("offset")
                        .setValue(Long.toString(offset)))
                .addExternalData(
                    StringStringEntryProto.newBuilder()
                        .setKey("length")
                        .setValue(Integer.toString(raw.length))));
        offset += raw.length;
      }
    }
    return model.toBuilder().setGraph(g).build();
  }

  private static byte[] rawBytes(TensorProto t) {
    if (!t.getRawData().isEmpty()) {
      return t.getRawData().toByteArray();
    }
    if (t.getDataType() == TensorProto.DataType.FLOAT_VALUE) {
      ByteBuffer b = ByteBuffer.allocate(4 * t.getFloatDataCount()).order(ByteOrder.LITTLE_ENDIAN);
      t.getFloatDataList().forEach(b::putFloat);
      return b.array();
    }
    ByteBuffer b = ByteBuffer.allocate(8 * t.getInt64DataCount()).order(ByteOrder.LITTLE_ENDIAN);
    t.getInt64DataList().forEach(b::putLong);
    return b.array();
  }
}
