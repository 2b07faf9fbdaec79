package io.headwise.graph;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import java.util.List;
import org.junit.jupiter.api.Test;

class GraphIndexTest {
  @Test
  void elementTypesAreInferredThroughProducers() {
    // fp16 eager attention: Softmax in fp32 (upcast), Cast back to fp16, NaN guard with an fp16
    // constant
    GraphProto.Builder g = GraphProto.newBuilder();
    GraphBuilder b = new GraphBuilder(g, 17, "");
    b.addInput("scores", ElementType.FLOAT16, "b", "h", "t", "t");
    String up = b.cast("scores", ElementType.FLOAT);
    String p32 = b.op("Softmax", List.of(up), GraphBuilder.intAttr("axis", -1));
    String p16 = b.cast(p32, ElementType.FLOAT16);
    g.addInitializer(TensorProto.newBuilder().setName("zero16").setDataType(10).addInt32Data(0));
    String guarded = b.op("Where", b.op("IsNaN", p16), "zero16", p16);
    String dropped = b.op("Dropout", guarded);
    String shape = b.op("Shape", dropped);
    String unknown = b.op("Relu", "not_in_graph");
    GraphIndex idx = new GraphIndex(g.build());
    assertEquals(ElementType.FLOAT16, idx.elemType("scores"));
    assertEquals(ElementType.FLOAT, idx.elemType(p32));
    assertEquals(ElementType.FLOAT16, idx.elemType(guarded));
    assertEquals(ElementType.FLOAT16, idx.elemType(dropped));
    assertEquals(ElementType.BOOL, idx.elemType(idx.producer(guarded).orElseThrow().getInput(0)));
    assertEquals(ElementType.INT64, idx.elemType(shape));
    assertEquals(ElementType.UNDEFINED, idx.elemType(unknown));
  }
}
