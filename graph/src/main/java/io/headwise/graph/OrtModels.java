package io.headwise.graph;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import io.headwise.schemas.HeadwiseException;
import java.nio.FloatBuffer;

/**
 * Creates ONNX Runtime sessions for (possibly rewritten) model protos. The proto is passed as
 * bytes; weights kept as external data are resolved against the original model's directory through
 * {@code session.model_external_initializers_file_folder_path}, so a rewritten graph never needs to
 * be written next to the data. A bfloat16 graph is run through {@link Bfloat16Emulation} (float32
 * arithmetic, same interface).
 */
public final class OrtModels {
  /** ONNX Runtime session config key for the folder external initializers resolve against. */
  public static final String EXTERNAL_DATA_FOLDER_KEY =
      "session.model_external_initializers_file_folder_path";

  private OrtModels() {}

  /** A session over {@code proto}, whose external data (if any) lives next to {@code model}. */
  public static OrtSession session(
      OnnxModel model, ModelProto proto, OrtSession.SessionOptions options) {
    try {
      if (model.externalDataDir().isPresent() && !OnnxModel.externalLocations(proto).isEmpty()) {
        options.addConfigEntry(EXTERNAL_DATA_FOLDER_KEY, model.externalDataDir().get().toString());
      }
      // bfloat16 graphs run in float32 (Bfloat16Emulation): the CPU provider has no bf16 MatMul
      return OrtEnvironment.getEnvironment()
          .createSession(Bfloat16Emulation.apply(proto).toByteArray(), options);
    } catch (OrtException e) {
      throw new HeadwiseException(
          "ONNX Runtime cannot load model " + model.source() + ": " + firstLine(e.getMessage()), e);
    }
  }

  /** The first line of an ONNX Runtime message (the native stack follows it), or "no detail". */
  public static String firstLine(String s) {
    if (s == null) {
      return "no detail";
    }
    int nl = s.indexOf('\n');
    return nl < 0 ? s : s.substring(0, nl);
  }

  /**
   * The values of a float tensor in a new array (a session's result is closed with the session).
   */
  public static float[] floats(OnnxTensor t) {
    FloatBuffer fb = t.getFloatBuffer();
    float[] v = new float[fb.remaining()];
    fb.get(v);
    return v;
  }

  /**
   * Closes {@code session} for an {@link AutoCloseable#close} that declares no checked exception;
   * ONNX Runtime fails to close a session only when the runtime itself is broken.
   */
  public static void close(OrtSession session) {
    try {
      session.close();
    } catch (OrtException e) {
      throw new IllegalStateException(e);
    }
  }
}
