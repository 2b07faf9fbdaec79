package io.headwise.jobs.quantize;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.StringStringEntryProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import com.google.protobuf.ByteString;
import io.headwise.graph.OnnxModel;
import io.headwise.schemas.HeadwiseException;
import java.io.Closeable;
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
    try (DataFiles files = new DataFiles(dir, " of " + model.source())) {
      for (int i = 0; i < g.getInitializerCount(); i++) {
        TensorProto t = g.getInitializer(i);
        if (t.getDataLocation() != TensorProto.DataLocation.EXTERNAL) {
          continue;
        }
        Slice slice = files.slice(t);
        long length = slice.length();
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
          if (slice.channel().read(buf, slice.offset() + buf.position()) < 0) {
            throw new HeadwiseException(
                "external data file " + slice.file() + " ends before initializer " + t.getName());
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

  /**
   * The bytes of one external initializer in its data file.
   *
   * @param file the data file
   * @param channel the file, open for reading
   * @param offset first byte
   * @param length byte count (resolved to the end of the file when the initializer states none)
   */
  record Slice(Path file, FileChannel channel, long offset, long length) {}

  /**
   * The external-data files of one model directory, each opened once on first use and all closed
   * together: what reading embedded weights and copying them into a new data file share.
   */
  static final class DataFiles implements Closeable {
    private final Path dir;
    private final String owner;
    private final Map<String, FileChannel> open = new HashMap<>();

    /**
     * Data files under {@code dir}; {@code owner} (e.g. {@code " of model.onnx"}, or empty) follows
     * the initializer's name in errors.
     */
    DataFiles(Path dir, String owner) {
      this.dir = dir;
      this.owner = owner;
    }

    /** Where {@code t}'s bytes are; its location must stay inside the directory. */
    Slice slice(TensorProto t) throws IOException {
      String location = null;
      for (StringStringEntryProto e : t.getExternalDataList()) {
        if (e.getKey().equals("location")) {
          location = e.getValue();
          break;
        }
      }
      if (location == null) {
        throw new HeadwiseException(
            "initializer " + t.getName() + owner + " is external but names no location");
      }
      Path file = dir.resolve(location).normalize();
      if (!file.startsWith(dir)) {
        throw new HeadwiseException(
            "initializer "
                + t.getName()
                + owner
                + (owner.isEmpty()
                    ? " points outside its model's directory: "
                    : " points outside the model's directory: ")
                + location);
      }
      FileChannel ch = open.get(location);
      if (ch == null) {
        ch = FileChannel.open(file, StandardOpenOption.READ);
        open.put(location, ch);
      }
      ExternalRange range = externalRange(t);
      long length = range.length() >= 0 ? range.length() : ch.size() - range.offset();
      return new Slice(file, ch, range.offset(), length);
    }

    @Override
    public void close() throws IOException {
      for (FileChannel ch : open.values()) {
        ch.close();
      }
    }
  }
}
