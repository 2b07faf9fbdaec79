package io.headwise.graph;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import com.google.protobuf.ByteString;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * A bfloat16 graph that ONNX Runtime's CPU provider refuses (a bf16 MatMul) runs through {@link
 * Bfloat16Emulation} with its bf16 input and output unchanged, on the exact bf16 weights, with a
 * bf16 Cast and a bf16 Constant turned float32.
 */
class Bfloat16EmulationTest {
  private static final int BF16 = ElementType.BFLOAT16.code();

  /** y = Cast(bf16)(MatMul(x, W) + c) with W [2, 2] and c a bf16 Constant; x, y bf16 [1, 2]. */
  private static ModelProto model() {
    GraphProto.Builder g = GraphProto.newBuilder().setName("bf16");
    GraphBuilder b = new GraphBuilder(g, 17, "t/");
    b.addInput("x", ElementType.BFLOAT16, "1", "2");
    b.addOutput("y", ElementType.BFLOAT16, "1", "2");
    g.addInitializer(bf16("W", new long[] {2, 2}, 1.5f, -2.25f, 0.5f, 3f));
    b.op(
        "Constant",
        List.of(),
        List.of("c"),
        GraphBuilder.tensorAttr("value", bf16("", new long[] {1}, 0.75f)));
    b.op("MatMul", List.of("x", "W"), List.of("xw"));
    b.op("Add", List.of("xw", "c"), List.of("s"));
    b.op("Cast", List.of("s"), List.of("y"), GraphBuilder.intAttr("to", BF16));
    return ModelProto.newBuilder()
        .setIrVersion(8)
        .setGraph(g)
        .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(17))
        .build();
  }

  @Test
  void theCpuProviderRefusesTheGraphAndTheEmulationRunsIt() throws OrtException {
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    assertThrows(OrtException.class, () -> env.createSession(model().toByteArray()).close());

    ModelProto emulated = Bfloat16Emulation.apply(model());
    assertEquals(model().getGraph().getInputList(), emulated.getGraph().getInputList());
    assertEquals(model().getGraph().getOutputList(), emulated.getGraph().getOutputList());
    assertEquals(model().getGraph().getInitializerList(), emulated.getGraph().getInitializerList());

    ByteBuffer x = ByteBuffer.allocateDirect(4).order(ByteOrder.nativeOrder());
    x.putShort(bits(2f)).putShort(bits(-1f)).flip();
    try (OrtSession s = env.createSession(emulated.toByteArray());
        OnnxTensor in = OnnxTensor.createTensor(env, x, new long[] {1, 2}, OnnxJavaType.BFLOAT16);
        OrtSession.Result r = s.run(Map.of("x", in))) {
      OnnxTensor y = (OnnxTensor) r.get(0);
      assertEquals(OnnxJavaType.BFLOAT16, y.getInfo().type);
      // [2, -1] · [[1.5, -2.25], [0.5, 3]] + 0.75 = [3.25, -6.75], exact in bf16
      assertArrayEquals(new float[] {3.25f, -6.75f}, OrtModels.floats(y), 0f);
    }
  }

  @Test
  void aModelWithoutBfloat16IsReturnedAsItIs() {
    GraphProto.Builder g = GraphProto.newBuilder();
    GraphBuilder b = new GraphBuilder(g, 17, "t/");
    b.addInput("x", ElementType.FLOAT, "2");
    b.addOutput("y", ElementType.FLOAT, "2");
    b.identity("x", "y");
    ModelProto m = ModelProto.newBuilder().setIrVersion(8).setGraph(g).build();
    assertSame(m, Bfloat16Emulation.apply(m));
  }

  private static short bits(float f) {
    return (short) (Float.floatToRawIntBits(f) >>> 16); // exact for these values
  }

  private static TensorProto bf16(String name, long[] dims, float... values) {
    ByteBuffer raw = ByteBuffer.allocate(values.length * 2).order(ByteOrder.LITTLE_ENDIAN);
    for (float v : values) {
      raw.putShort(bits(v));
    }
    TensorProto.Builder t =
        TensorProto.newBuilder()
            .setName(name)
            .setDataType(BF16)
            .setRawData(ByteString.copyFrom(raw.array()));
    for (long d : dims) {
      t.addDims(d);
    }
    return t.build();
  }
}
