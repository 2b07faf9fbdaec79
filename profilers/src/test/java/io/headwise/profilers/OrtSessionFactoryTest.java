package io.headwise.profilers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OrtSession;
import io.headwise.graph.OnnxModel;
import io.headwise.graph.TestModels;
import io.headwise.schemas.HeadwiseException;
import org.junit.jupiter.api.Test;

/**
 * Execution-provider selection: CPU by default, CUDA fails clearly where it cannot load, auto falls
 * back.
 */
class OrtSessionFactoryTest {
  @Test
  void parsesProviderSpecs() {
    assertEquals(ExecutionProvider.Kind.CPU, ExecutionProvider.parse(null).kind());
    assertEquals(
        new ExecutionProvider(ExecutionProvider.Kind.CUDA, 3), ExecutionProvider.parse("cuda:3"));
    assertEquals(ExecutionProvider.Kind.AUTO, ExecutionProvider.parse("AUTO").kind());
    HeadwiseException e =
        assertThrows(HeadwiseException.class, () -> ExecutionProvider.parse("tpu"));
    assertTrue(e.getMessage().contains("--ep"), e.getMessage());
  }

  @Test
  void cudaWithoutCudaIsAClearErrorAndAutoFallsBackToCpu() throws Exception {
    OnnxModel model = OnnxModel.load(TestModels.stories260k());
    boolean cudaWorks;
    try (OrtSession s =
        OrtSessionFactory.open(model, model.proto(), ExecutionProvider.parse("cuda"), 1)) {
      cudaWorks = s.getNumInputs() > 0;
    } catch (HeadwiseException e) {
      cudaWorks = false;
      assertTrue(
          e.getMessage().contains("CUDA 12") && e.getMessage().contains("cuDNN 9"), e.getMessage());
      assertTrue(e.getMessage().contains("--ep cpu"), e.getMessage());
    }
    try (OrtSession s =
        OrtSessionFactory.open(model, model.proto(), ExecutionProvider.parse("auto"), 1)) {
      assertEquals(2, s.getNumInputs());
    }
    System.out.println("CUDA execution provider available here: " + cudaWorks);
  }
}
