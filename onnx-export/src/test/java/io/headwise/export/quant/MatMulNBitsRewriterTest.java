package io.headwise.export.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import io.headwise.graph.Tensors;
import io.headwise.planners.quant.QuantConfig;
import io.headwise.planners.quant.RtnQuantizer;
import java.util.List;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

class MatMulNBitsRewriterTest {

  private static final int K = 32;
  private static final int N = 16;

  @Test
  void sharedWeightsStayForTheOtherReader() {
    GraphProto.Builder graph =
        GraphProto.newBuilder()
            .addInitializer(Tensors.floats("W", new long[] {K, N}, new float[K * N]))
            .addNode(matMul("first", "A", "W", "Y1"))
            .addNode(matMul("second", "A", "W", "Y2"));
    NodeProto replaced =
        MatMulNBitsRewriter.replaceMatMul(graph, "first", weights(QuantConfig.symmetric(4, 32)));
    assertEquals("first", replaced.getName());
    assertEquals("com.microsoft", replaced.getDomain());
    assertEquals(List.of("A", "W_MatMulNBits_B", "W_MatMulNBits_scales"), replaced.getInputList());
    assertEquals(List.of("Y1"), replaced.getOutputList());
    assertEquals(List.of("W", "W_MatMulNBits_B", "W_MatMulNBits_scales"), initializerNames(graph));
    assertEquals("MatMulNBits", graph.getNode(0).getOpType());
    assertEquals("MatMul", graph.getNode(1).getOpType());

    NodeProto second =
        MatMulNBitsRewriter.replaceMatMul(graph, "second", weights(QuantConfig.asymmetric(4, 32)));
    assertEquals(
        List.of("A", "W_MatMulNBits_B_1", "W_MatMulNBits_scales_1", "W_MatMulNBits_zero_points"),
        second.getInputList());
    assertTrue(!initializerNames(graph).contains("W"), "W is dropped once nothing reads it");
    TensorProto b = graph.getInitializer(0);
    assertEquals(List.of((long) N, 1L, 16L), b.getDimsList()); // [N, k_blocks, blob]
    assertEquals(TensorProto.DataType.UINT8_VALUE, b.getDataType());
    assertEquals(attributes(second), "K=32 N=16 accuracy_level=0 bits=4 block_size=32");
  }

  @Test
  void opsetImportIsAddedOnce() {
    ModelProto.Builder model =
        ModelProto.newBuilder()
            .setGraph(
                GraphProto.newBuilder()
                    .addInitializer(Tensors.floats("W", new long[] {K, N}, new float[K * N]))
                    .addNode(matMul("m", "A", "W", "Y")));
    MatMulNBitsRewriter.replace(model, "m", weights(QuantConfig.symmetric(4, 32)));
    assertEquals(
        1,
        model.getOpsetImportList().stream()
            .filter(o -> o.getDomain().equals("com.microsoft"))
            .count());
    assertEquals(1, model.getOpsetImport(0).getVersion());
  }

  @Test
  void refusesWhatItCannotExpress() {
    GraphProto.Builder graph =
        GraphProto.newBuilder()
            .addInitializer(Tensors.floats("W", new long[] {K, N}, new float[K * N]))
            .addInitializer(Tensors.floats("Wt", new long[] {N, K}, new float[K * N]))
            .addNode(matMul("dynamic", "A", "B", "Y"))
            .addNode(matMul("wrongShape", "A", "Wt", "Y2"))
            .addNode(
                NodeProto.newBuilder()
                    .setOpType("Gemm")
                    .setName("scaled")
                    .addInput("A")
                    .addInput("W")
                    .addOutput("Y3")
                    .addAttribute(
                        AttributeProto.newBuilder()
                            .setName("alpha")
                            .setType(AttributeProto.AttributeType.FLOAT)
                            .setF(0.5f)));
    MatMulNBitsWeights w = weights(QuantConfig.symmetric(4, 32));
    assertThrows(
        IllegalArgumentException.class,
        () -> MatMulNBitsRewriter.replaceMatMul(graph, "dynamic", w));
    assertThrows(
        IllegalArgumentException.class,
        () -> MatMulNBitsRewriter.replaceMatMul(graph, "wrongShape", w));
    assertThrows(
        UnsupportedOperationException.class,
        () -> MatMulNBitsRewriter.replaceGemm(graph, "scaled", w));
    assertThrows(
        IllegalArgumentException.class,
        () -> MatMulNBitsRewriter.replaceMatMul(graph, "missing", w));
  }

  private static MatMulNBitsWeights weights(QuantConfig config) {
    return MatMulNBitsWeights.from(
        RtnQuantizer.quantize(MatMulNBitsPackingTest.gaussian(N, K, 1, 3), config));
  }

  private static NodeProto matMul(String name, String a, String b, String y) {
    return NodeProto.newBuilder()
        .setOpType("MatMul")
        .setName(name)
        .addInput(a)
        .addInput(b)
        .addOutput(y)
        .build();
  }

  private static List<String> initializerNames(GraphProto.Builder graph) {
    return graph.getInitializerList().stream()
        .map(TensorProto::getName)
        .collect(Collectors.toList());
  }

  private static String attributes(NodeProto node) {
    return node.getAttributeList().stream()
        .map(a -> a.getName() + "=" + a.getI())
        .sorted((x, y) -> x.compareTo(y))
        .collect(Collectors.joining(" "));
  }
}
