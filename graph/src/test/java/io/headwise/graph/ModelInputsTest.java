package io.headwise.graph;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import io.headwise.schemas.HeadwiseException;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Input roles and feeds for the input forms exporters use. */
class ModelInputsTest {
  @Test
  void stackedFiveDimPastAndInt32PositionsAreFed() throws Exception {
    // ONNX Runtime's GPT-2 converter: int32 ids and positions, past_i = [2, batch, heads, past,
    // head dim] fp16
    GraphProto.Builder g = GraphProto.newBuilder();
    GraphBuilder b = new GraphBuilder(g, 11, "");
    b.addInput("input_ids", ElementType.INT32, "batch_size", "seq_len");
    b.addInput("position_ids", ElementType.INT32, "batch_size", "seq_len");
    b.addInput("attention_mask", ElementType.INT32, "batch_size", "total_seq_len");
    b.addInput("past_0", ElementType.FLOAT16, "2", "batch_size", "4", "past_seq_len", "8");
    b.addInput(
        "past_key_values.1.key",
        ElementType.FLOAT,
        "batch_size",
        "2",
        "past_sequence_length",
        "16");
    ModelInputs in = ModelInputs.of(g.build());
    assertEquals(ElementType.INT32, in.positionIdsType());
    assertEquals(2, in.pastInputs().size());
    ModelInputs.PastInput stacked = in.pastInputs().get(0);
    assertTrue(stacked.stacked());
    assertEquals(4, stacked.kvHeads());
    assertEquals(8, stacked.headDim());
    assertArrayEquals(new long[] {2, 3, 4, 0, 8}, stacked.emptyShape(3));
    assertArrayEquals(new long[] {3, 2, 0, 16}, in.pastInputs().get(1).emptyShape(3));
    long[][] ids = {{5, 6, 7}, {8, 9, 0}, {1, 2, 3}};
    long[][] mask = {{1, 1, 1}, {1, 1, 0}, {0, 1, 1}};
    Map<String, OnnxTensor> feeds =
        ModelFeeds.create(OrtEnvironment.getEnvironment(), in, ids, mask);
    try {
      assertEquals(OnnxJavaType.INT32, feeds.get("position_ids").getInfo().type);
      int[][] pos = (int[][]) feeds.get("position_ids").getValue();
      assertArrayEquals(new int[] {0, 0, 1}, pos[2], "positions count valid tokens only");
      assertArrayEquals(new long[] {2, 3, 4, 0, 8}, feeds.get("past_0").getInfo().getShape());
      assertEquals(OnnxJavaType.FLOAT16, feeds.get("past_0").getInfo().type);
      assertEquals(OnnxJavaType.FLOAT, feeds.get("past_key_values.1.key").getInfo().type);
    } finally {
      feeds.values().forEach(OnnxTensor::close);
    }
  }

  @Test
  void pastWithoutStaticHeadsIsAClearError() {
    GraphProto.Builder g = GraphProto.newBuilder();
    GraphBuilder b = new GraphBuilder(g, 14, "");
    b.addInput("input_ids", ElementType.INT64, "batch", "seq");
    b.addInput("past_key_values.0.key", ElementType.FLOAT, "batch", "heads", "past", "head_dim");
    HeadwiseException e = assertThrows(HeadwiseException.class, () -> ModelInputs.of(g.build()));
    assertTrue(e.getMessage().contains("use_cache=False"), e.getMessage());
  }
}
