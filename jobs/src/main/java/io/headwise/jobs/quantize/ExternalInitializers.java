package io.headwise.jobs.quantize;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.StringStringEntryProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import com.google.protobuf.ByteString;
import io.headwise.graph.OnnxModel;
import io.headwise.schemas.HeadwiseException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HashMap;
import java.util.Map;

/**
 * Reading the initializers of a model whose weights live in external-data files: the whole proto
 * with its data embedded, one initializer, their byte counts, and where an external initializer's
 * bytes are. Apart from {@link QuantizeModelFiles} (which writes models) because the solve reads
 * weights on executors ({@link QuantizeGroupTask}) and never writes a model.
 */
public final class ExternalInitializers {
  private ExternalInitializers() {}

  /** {@code model}'s proto with every external initializer read into {@code raw_data}. */
  public static ModelProto embedded(OnnxModel model) {
    if (!model.hasExternalData()) {
      return model.proto();
    }
    Path dir =
        model
            .externalDataDir()
            .orElseThrow(
                () ->
                    new HeadwiseException(
                        "model "
                            + model.source()
                            + " references external data but has no directory"));
    GraphProto.Builder g = model.graph().toBuilder();
    Map<String, FileChannel> open = new HashMap<>();
    try {
      for (int i = 0; i < g.getInitializerCount(); i++) {
        TensorProto t = g.getInitializer(i);
        if (t.getDataLocation() != TensorProto.DataLocation.EXTERNAL) {
          continue;
        }
        String location = null;
        long offset = 0;
        long length = -1;
        for (StringStringEntryProto e : t.getExternalDataList()) {
          switch (e.getKey()) {
            case "location" -> location = e.getValue();
            case "offset" -> offset = Long.parseLong(e.getValue());
            case "length" -> length = Long.parseLong(e.getValue());
            default -> {}
          }
        }
        if (location == null) {
          throw new HeadwiseException(
              "initializer "
                  + t.getName()
                  + " of "
                  + model.source()
                  + " is external but names no location");
        }
        Path file = dir.resolve(location).normalize();
        if (!file.startsWith(dir)) {
          throw new HeadwiseException(
              "initializer "
                  + t.getName()
                  + " of "
                  + model.source()
                  + " points outside the model's directory: "
                  + location);
        }
        FileChannel ch = open.get(location);
        if (ch == null) {
          ch = FileChannel.open(file, StandardOpenOption.READ);
          open.put(location, ch);
        }
        if (length < 0) {
          length = ch.size() - offset;
        }
        if (length > Integer.MAX_VALUE - 8) {
          throw new HeadwiseException(
              "initializer "
                  + t.getName()
                  + " holds "
                  + length
                  + " bytes; tensors over 2 GiB"
                  + " are not supported");
        }
        ByteBuffer buf = ByteBuffer.allocate((int) length);
        while (buf.hasRemaining()) {
          if (ch.read(buf, offset + buf.position()) < 0) {
            throw new HeadwiseException(
                "external data file " + file + " ends before initializer " + t.getName());
          }
        }
        buf.flip();
        g.setInitializer(
            i,
            t.toBuilder()
                .clearExternalData()
                .setDataLocation(TensorProto.DataLocation.DEFAULT)
                .setRawData(ByteString.copyFrom(buf))
                .build());
      }
    } catch (IOException e) {
      throw new HeadwiseException(
          "cannot read the external data of " + model.source() + ": " + e.getMessage(), e);
    } finally {
      for (FileChannel ch : open.values()) {
        try {
          ch.close();
        } catch (IOException ignored) {
          // read-only
        }
      }
    }
    return model.proto().toBuilder().setGraph(g).build();
  }

  /**
   * Initializer {@code name} of {@code model} with its data embedded (read from its external file
   * when needed).
   */
  public static TensorProto initializer(OnnxModel model, String name) {
    for (TensorProto t : model.graph().getInitializerList()) {
      if (t.getName().equals(name)) {
        if (t.getDataLocation() != TensorProto.DataLocation.EXTERNAL) {
          return t;
        }
        GraphProto one = GraphProto.newBuilder().addInitializer(t).build();
        OnnxModel single = model.withProto(model.proto().toBuilder().setGraph(one).build());
        return embedded(single).getGraph().getInitializer(0);
      }
    }
    throw new HeadwiseException("model " + model.source() + " has no initializer " + name);
  }

  /**
   * Bytes held by the initializers of {@code proto}: embedded data, plus the length of external
   * ones.
   */
  public static long initializerBytes(ModelProto proto) {
    long n = 0;
    for (TensorProto t : proto.getGraph().getInitializerList()) {
      n +=
          t.getRawData().size()
              + 4L * t.getFloatDataCount()
              + 8L * t.getInt64DataCount()
              + 4L * t.getInt32DataCount()
              + 8L * t.getDoubleDataCount();
      if (t.getDataLocation() == TensorProto.DataLocation.EXTERNAL) {
        n += Math.max(0, externalRange(t).length());
      }
    }
    return n;
  }

  /** True when an initializer of {@code proto} still references an external-data file. */
  static boolean hasExternal(ModelProto proto) {
    for (TensorProto t : proto.getGraph().getInitializerList()) {
      if (t.getDataLocation() == TensorProto.DataLocation.EXTERNAL) {
        return true;
      }
    }
    return false;
  }

  /**
   * Where an external initializer's bytes are in its file.
   *
   * @param offset first byte (0 when absent)
   * @param length byte count, -1 when absent (to the end of the file)
   */
  record ExternalRange(long offset, long length) {}

  static ExternalRange externalRange(TensorProto t) {
    long offset = 0;
    long length = -1;
    for (StringStringEntryProto e : t.getExternalDataList()) {
      if (e.getKey().equals("offset")) {
        offset = Long.parseLong(e.getValue().trim());
      } else if (e.getKey().equals("length")) {
        length = Long.parseLong(e.getValue().trim());
      }
    }
    return new ExternalRange(offset, length);
  }

  static String externalLocation(TensorProto t) {
    for (StringStringEntryProto e : t.getExternalDataList()) {
      if (e.getKey().equals("location")) {
        return e.getValue();
      }
    }
    throw new HeadwiseException(
        "initializer " + t.getName() + " is external but names no location");
  }
}
