package io.headwise.graph;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.StringStringEntryProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import io.headwise.schemas.HeadwiseException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * Checks, without reading any weight, that every external initializer of a model resolves to a file
 * inside the model's directory that is long enough for it ({@code offset + length}, or the tensor's
 * element count times its element size when the graph gives no length). A missing or truncated data
 * file then fails at load with one error naming the file, instead of deep inside ONNX Runtime or
 * halfway through a Spark job.
 */
final class ExternalDataCheck {
  private ExternalDataCheck() {}

  static void check(ModelProto proto, Path modelFile, Path dir) {
    Map<String, Long> sizes = new HashMap<>();
    for (TensorProto t : proto.getGraph().getInitializerList()) {
      if (t.getDataLocation() != TensorProto.DataLocation.EXTERNAL) {
        continue;
      }
      String location = null;
      long offset = 0;
      long length = -1;
      for (StringStringEntryProto e : t.getExternalDataList()) {
        try {
          switch (e.getKey()) {
            case "location" -> location = e.getValue();
            case "offset" -> offset = Long.parseLong(e.getValue().trim());
            case "length" -> length = Long.parseLong(e.getValue().trim());
            default -> {}
          }
        } catch (NumberFormatException x) {
          throw new HeadwiseException(
              "initializer "
                  + t.getName()
                  + " of model "
                  + modelFile
                  + " has a malformed"
                  + " external-data "
                  + e.getKey()
                  + " '"
                  + e.getValue()
                  + "'");
        }
      }
      if (location == null || location.isEmpty()) {
        throw new HeadwiseException(
            "initializer "
                + t.getName()
                + " of model "
                + modelFile
                + " is stored externally but names no location");
      }
      Path file = dir.resolve(location).normalize();
      if (!file.startsWith(dir)) {
        throw new HeadwiseException(
            "initializer "
                + t.getName()
                + " of model "
                + modelFile
                + " points outside the model's directory: "
                + location);
      }
      long needed = offset + (length >= 0 ? length : expectedBytes(t));
      String loc = location;
      long size =
          sizes.computeIfAbsent(
              location,
              l -> {
                try {
                  return Files.size(file);
                } catch (IOException e) {
                  throw new HeadwiseException(
                      "external data file "
                          + loc
                          + " of model "
                          + modelFile
                          + " is missing; keep the model's data files next to it",
                      e);
                }
              });
      if (needed > size) {
        throw new HeadwiseException(
            "external data file "
                + file
                + " of model "
                + modelFile
                + " is shorter than the"
                + " graph says: initializer "
                + t.getName()
                + " needs bytes up to "
                + needed
                + " but the file has "
                + size
                + " (truncated copy or download?)");
      }
    }
  }

  /**
   * Bytes of a tensor from its dims and element type; 0 when the type's size is not fixed
   * (strings).
   */
  private static long expectedBytes(TensorProto t) {
    long n = 1;
    for (long d : t.getDimsList()) {
      n *= d;
    }
    return n * ElementType.find(t.getDataType()).map(ElementType::byteSize).orElse(0);
  }
}
