package io.headwise.export.attention;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.TypeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import io.headwise.export.attention.ReferenceAttention.Attributes;
import io.headwise.export.attention.ReferenceAttention.Tensor4;
import io.headwise.graph.GraphBuilder;
import io.headwise.graph.Tensors;
import io.headwise.schemas.HeadwiseException;
import java.nio.FloatBuffer;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The function on its own: a graph with one hand-written HeadwiseAttention call that carries only
 * the required attributes (the rest take the function's defaults), with Tq &lt; Tk (queries are the
 * last Tq keys).
 */
class HeadwiseAttentionFunctionTest {
  @ParameterizedTest
  @ValueSource(ints = {11, 17})
  void requiredAttributesOnlyWithFewerQueriesThanKeys(int opset) throws Exception {
    int heads = 3;
    int kvHeads = 1;
    int tq = 3;
    int tk = 7;
    int dim = 4;
    long[] kinds = {
      HeadwiseAttentionOp.KIND_FULL,
      HeadwiseAttentionOp.KIND_STREAMING,
      HeadwiseAttentionOp.KIND_FULL
    };
    long[] kvMap = {0, 0, 0};
    NodeProto call =
        NodeProto.newBuilder()
            .setOpType(HeadwiseAttentionOp.OP_TYPE)
            .setDomain(HeadwiseAttentionOp.DOMAIN)
            .setName("attention")
            .addInput("q")
            .addInput("k")
            .addInput("v")
            .addInput("m")
            .addOutput("o")
            .addAttribute(attr(HeadwiseAttentionOp.ATTR_KINDS, Tensors.longVector("", kinds)))
            .addAttribute(attr(HeadwiseAttentionOp.ATTR_KV_HEADS, Tensors.longVector("", kvMap)))
            .addAttribute(attr(HeadwiseAttentionOp.ATTR_SCALE, Tensors.floatScalar("", 0.5f)))
            .addAttribute(attr(HeadwiseAttentionOp.ATTR_CAUSAL, Tensors.longScalar("", 1)))
            .build();
    GraphProto graph =
        GraphProto.newBuilder()
            .setName("one_call")
            .addNode(call)
            .addInput(input("q", 1, heads, tq, dim))
            .addInput(input("k", 1, kvHeads, tk, dim))
            .addInput(input("v", 1, kvHeads, tk, dim))
            .addInitializer(Tensors.floatScalar("m", 0f))
            .addOutput(
                ValueInfoProto.newBuilder()
                    .setName("o")
                    .setType(
                        TypeProto.newBuilder()
                            .setTensorType(
                                TypeProto.Tensor.newBuilder().setElemType(GraphBuilder.FLOAT))))
            .build();
    ModelProto model =
        ModelProto.newBuilder()
            .setIrVersion(9)
            .setGraph(graph)
            .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(opset))
            .addOpsetImport(
                OperatorSetIdProto.newBuilder()
                    .setDomain(HeadwiseAttentionOp.DOMAIN)
                    .setVersion(HeadwiseAttentionOp.VERSION))
            .addFunctions(HeadwiseAttentionFunction.build(opset))
            .build();

    Random rnd = new Random(opset);
    float[] q = random(rnd, heads * tq * dim);
    float[] k = random(rnd, kvHeads * tk * dim);
    float[] v = random(rnd, kvHeads * tk * dim);
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    float[] actual;
    try (OrtSession.SessionOptions options = new OrtSession.SessionOptions();
        OrtSession session = env.createSession(model.toByteArray(), options);
        OnnxTensor qt =
            OnnxTensor.createTensor(env, FloatBuffer.wrap(q), new long[] {1, heads, tq, dim});
        OnnxTensor kt =
            OnnxTensor.createTensor(env, FloatBuffer.wrap(k), new long[] {1, kvHeads, tk, dim});
        OnnxTensor vt =
            OnnxTensor.createTensor(env, FloatBuffer.wrap(v), new long[] {1, kvHeads, tk, dim});
        OrtSession.Result r = session.run(Map.of("q", qt, "k", kt, "v", vt))) {
      FloatBuffer fb = ((OnnxTensor) r.get(0)).getFloatBuffer();
      actual = new float[fb.remaining()];
      fb.get(actual);
    }
    Attributes defaults =
        new Attributes(
            kinds,
            new long[heads],
            new float[heads],
            new float[heads],
            new long[heads],
            new long[heads],
            new long[] {0, 1, 2},
            kvMap,
            0.5f,
            true);
    double[] expected =
        new ReferenceAttention()
            .attend(
                new Tensor4(q, new long[] {1, heads, tq, dim}),
                new Tensor4(k, new long[] {1, kvHeads, tk, dim}),
                new Tensor4(v, new long[] {1, kvHeads, tk, dim}),
                new Tensor4(new float[] {0f}, new long[] {1, 1, 1, 1}),
                defaults);
    assertEquals(expected.length, actual.length);
    double nonZero = 0;
    for (int i = 0; i < actual.length; i++) {
      assertEquals(expected[i], actual[i], 1e-5, "element " + i);
      int head = i / (tq * dim);
      if (head == 1) {
        assertEquals(
            0f,
            actual[i],
            "a streaming head with sink 0 and span 0 keeps no key: output 0, not NaN");
      } else {
        nonZero = Math.max(nonZero, Math.abs(actual[i]));
      }
    }
    assertTrue(nonZero > 0.01);
  }

  @Test
  void opsetsBelowElevenAreRefused() {
    HeadwiseException e =
        assertThrows(HeadwiseException.class, () -> HeadwiseAttentionFunction.build(10));
    assertTrue(e.getMessage().contains("opset 11"), e.getMessage());
  }

  private static AttributeProto attr(String name, ai.onnx.proto.OnnxMl.TensorProto t) {
    return GraphBuilder.tensorAttr(name, t);
  }

  private static ValueInfoProto input(String name, long... dims) {
    TensorShapeProto.Builder shape = TensorShapeProto.newBuilder();
    for (long d : dims) {
      shape.addDim(TensorShapeProto.Dimension.newBuilder().setDimValue(d));
    }
    return ValueInfoProto.newBuilder()
        .setName(name)
        .setType(
            TypeProto.newBuilder()
                .setTensorType(
                    TypeProto.Tensor.newBuilder().setElemType(GraphBuilder.FLOAT).setShape(shape)))
        .build();
  }

  private static float[] random(Random rnd, int n) {
    float[] x = new float[n];
    for (int i = 0; i < n; i++) {
      x[i] = (float) rnd.nextGaussian();
    }
    return x;
  }
}
