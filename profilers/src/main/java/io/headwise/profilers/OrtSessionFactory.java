package io.headwise.profilers;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.providers.OrtCUDAProviderOptions;
import io.headwise.graph.OnnxModel;
import io.headwise.graph.OrtModels;
import io.headwise.schemas.HeadwiseException;
import java.util.logging.Logger;

/**
 * Opens ONNX Runtime sessions with the configured execution provider and thread counts. CUDA needs
 * the {@code cuda} build (onnxruntime_gpu) plus CUDA 12 and cuDNN 9 on the library path.
 */
public final class OrtSessionFactory {
  private static final Logger LOG = Logger.getLogger(OrtSessionFactory.class.getName());

  private OrtSessionFactory() {}

  /**
   * A session over {@code proto} (a rewrite of {@code model}) on {@code ep} with {@code
   * intraOpThreads} (0 = ORT default).
   */
  public static OrtSession open(
      OnnxModel model, ModelProto proto, ExecutionProvider ep, int intraOpThreads) {
    OrtSession.SessionOptions options = new OrtSession.SessionOptions();
    try {
      options.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
      options.setExecutionMode(OrtSession.SessionOptions.ExecutionMode.SEQUENTIAL);
      options.setInterOpNumThreads(1);
      if (intraOpThreads > 0) {
        options.setIntraOpNumThreads(intraOpThreads);
      }
      if (ep.kind() != ExecutionProvider.Kind.CPU) {
        try (OrtCUDAProviderOptions cuda = new OrtCUDAProviderOptions(ep.deviceId())) {
          options.addCUDA(cuda);
        } catch (OrtException | RuntimeException | UnsatisfiedLinkError e) {
          if (ep.kind() == ExecutionProvider.Kind.CUDA) {
            throw new HeadwiseException(
                "CUDA execution provider cannot load on device "
                    + ep.deviceId()
                    + " ("
                    + OrtModels.firstLine(e.getMessage())
                    + "); it needs the cuda build (./mvnw -Pcuda package, artifact"
                    + " onnxruntime_gpu), CUDA 12 and cuDNN 9 on the library path; or run with --ep cpu",
                e);
          }
          LOG.warning(
              "CUDA execution provider unavailable ("
                  + OrtModels.firstLine(e.getMessage())
                  + "); falling back to CPU");
        }
      }
      return OrtModels.session(model, proto, options);
    } catch (OrtException e) {
      throw new HeadwiseException(
          "cannot configure ONNX Runtime: " + OrtModels.firstLine(e.getMessage()), e);
    } finally {
      options.close();
    }
  }
}
