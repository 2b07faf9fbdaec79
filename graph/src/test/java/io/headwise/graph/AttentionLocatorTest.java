package io.headwise.graph;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class AttentionLocatorTest {
  @Test
  void stories260kIsACausalGqaDecoder() {
    OnnxModel model = OnnxModel.load(TestModels.stories260k());
    AttentionMap map = AttentionLocator.locate(model);
    assertEquals(5, map.numLayers());
    assertTrue(map.unsupported().isEmpty());
    for (AttentionBlock b : map.blocks()) {
      assertEquals(8, b.numHeads());
      assertEquals(4, b.numKvHeads());
      assertEquals(8, b.headDim());
      assertTrue(b.causal());
      assertEquals(1.0 / Math.sqrt(8), b.scale(), 1e-6);
      assertTrue(b.probabilitiesTensor().endsWith("Cast_5_output_0"), b.probabilitiesTensor());
    }
    assertEquals(17, model.opset());
  }

  @Test
  void miniLmIsABidirectionalEncoder() {
    OnnxModel model = OnnxModel.load("default");
    AttentionMap map = AttentionLocator.locate(model);
    assertEquals(6, map.numLayers());
    for (AttentionBlock b : map.blocks()) {
      assertEquals(12, b.numHeads());
      assertEquals(12, b.numKvHeads());
      assertEquals(32, b.headDim());
      assertFalse(b.causal());
      assertEquals(1.0 / Math.sqrt(32), b.scale(), 1e-6);
    }
    assertEquals(11, model.opset());
  }

  @Test
  void retrievalLmHasFourLayers() {
    AttentionMap map = AttentionLocator.locate(OnnxModel.load(TestModels.retrievalLm()));
    assertEquals(4, map.numLayers());
    assertEquals(8, map.block(0).numHeads());
    assertEquals(4, map.block(0).numKvHeads());
    assertEquals(16, map.block(0).headDim());
  }
}
