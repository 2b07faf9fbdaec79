package io.headwise.export.attention;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.onnxruntime.OrtSession;
import io.headwise.graph.OnnxModel;
import io.headwise.graph.OrtModels;
import io.headwise.graph.synth.SynthDtype;
import io.headwise.graph.synth.SynthShape;
import io.headwise.graph.synth.SynthSpec;
import io.headwise.graph.synth.SyntheticLlama;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The decode loop finds the logits by role, not by position: the synthetic Llama with past lists
 * its present caches before its logits (Optimum lists the logits first), and `bench decode` on it
 * once fed cache values back as token ids.
 */
class DecodeLoopOutputsTest {
  @TempDir Path dir;

  @Test
  void logitsListedAfterTheCachesAreFound() throws Exception {
    SynthSpec spec = new SynthSpec(SynthShape.TINY, 1, 97, SynthDtype.FLOAT32, true, 5);
    OnnxModel model = OnnxModel.load(SyntheticLlama.write(spec, dir.resolve("past.onnx")).model());
    assertEquals(
        "logits",
        model.proto().getGraph().getOutput(model.proto().getGraph().getOutputCount() - 1).getName(),
        "fixture: logits last");
    try (OrtSession.SessionOptions options = new OrtSession.SessionOptions();
        OrtSession session = OrtModels.session(model, model.proto(), options);
        DecodeLoop loop = new DecodeLoop(session, model.proto().getGraph())) {
      assertEquals(97, loop.step(new long[] {1, 2, 3}).length);
      assertEquals(97, loop.step(new long[] {4}).length);
    }
  }
}
