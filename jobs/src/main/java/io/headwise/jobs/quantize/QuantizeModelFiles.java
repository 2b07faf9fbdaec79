package io.headwise.jobs.quantize;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.StringStringEntryProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import com.google.protobuf.ByteString;
import io.headwise.graph.AtomicFiles;
import io.headwise.schemas.HeadwiseException;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * Model files the quantize step writes (reading external data is {@link ExternalInitializers}): a
 * proto either as one {@code .onnx} file or with its large initializers in one external-data file
 * next to it ({@code <name>.onnx.data}, a relative location, as ONNX Runtime requires). Writes go
 * to hidden temporary siblings first; {@link Staged#commit} moves them into place (data first, then
 * the model) and {@link Staged#discard} deletes them, so a failed step leaves nothing behind.
 */
public final class QuantizeModelFiles {
  /**
   * Models whose initializers exceed this many bytes get external data under {@link
   * ExternalData#AUTO}.
   */
  public static final long AUTO_EXTERNAL_BYTES = 1L << 30;

  /**
   * Initializers smaller than this stay in the .onnx file when data is external (the onnx package's
   * default).
   */
  public static final int EXTERNAL_MIN_BYTES = 1024;

  /** When to write external data. */
  public enum ExternalData {
    /**
     * Above {@link #AUTO_EXTERNAL_BYTES} of initializers (protobuf messages are capped at 2 GiB).
     */
    AUTO,
    ALWAYS,
    NEVER;

    /** Parses {@code auto}, {@code always} or {@code never}. */
    public static ExternalData parse(String s) {
      try {
        return valueOf(s.trim().toUpperCase(Locale.ROOT));
      } catch (IllegalArgumentException e) {
        throw new HeadwiseException(
            "--external-data must be auto, always or never, got '" + s + "'");
      }
    }
  }

  /**
   * A model and its data staged together ({@link AtomicFiles.Staged}: a hidden temporary directory
   * next to the target, files under their final names so that the staged model loads), not yet in
   * place.
   */
  public static final class Staged {
    private final Path target;
    private final AtomicFiles.Staged files;
    private final boolean externalData;

    private Staged(Path target, AtomicFiles.Staged files, boolean externalData) {
      this.target = target;
      this.files = files;
      this.externalData = externalData;
      if (externalData) {
        files.file(dataFile(target).getFileName().toString()); // data moves in first
      }
      files.file(target.getFileName().toString());
    }

    /** The staged model file, loadable before {@link #commit}. */
    public Path tempModel() {
      return files.file(target.getFileName().toString());
    }

    /** Where the model goes. */
    public Path target() {
      return target;
    }

    /** The external-data file the model will have, if any. */
    public Optional<Path> dataTarget() {
      return externalData ? Optional.of(dataFile(target)) : Optional.empty();
    }

    /** Bytes of the model file plus its data file. */
    public long bytes() {
      try {
        Path m = files.committed() ? target : tempModel();
        long n = Files.size(m);
        if (externalData) {
          n += Files.size(dataFile(m));
        }
        return n;
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }

    /**
     * Moves the files into place (data first, then the model) and removes the temporary directory.
     */
    public void commit() {
      try {
        files.commit();
      } catch (IOException e) {
        throw new UncheckedIOException(
            "cannot move the quantized model to " + target + ": " + e.getMessage(), e);
      }
    }

    /** Deletes the temporary files (no-op after {@link #commit}). */
    public void discard() {
      files.discard();
    }
  }

  /** {@code <model file name>.data} next to {@code model}. */
  public static Path dataFile(Path model) {
    return model.resolveSibling(model.getFileName() + ".data");
  }

  private QuantizeModelFiles() {}

  /**
   * Writes {@code proto} (initializers embedded) for {@code target} to temporary files in the
   * target's directory; with external data, initializers of at least {@link #EXTERNAL_MIN_BYTES} go
   * to {@code <target name>.data}.
   */
  public static Staged stage(ModelProto proto, Path target, ExternalData external) {
    return stage(proto, null, target, external);
  }

  /**
   * {@link #stage(ModelProto, Path, ExternalData)} for a proto whose initializers may still
   * reference external data of a source model in {@code sourceDir}: those are copied range by range
   * into the new data file (external data is then always written), so the weights pass through a
   * fixed buffer and never all sit in the heap.
   */
  public static Staged stage(ModelProto proto, Path sourceDir, Path target, ExternalData external) {
    if (ExternalInitializers.hasExternal(proto) && sourceDir == null) {
      throw new IllegalArgumentException(
          "a proto with external initializers needs their source directory");
    }
    Path out = target.toAbsolutePath().normalize();
    if (Files.isDirectory(out)) {
      throw new HeadwiseException(
          "output path " + target + " is a directory; pass the path of the .onnx file");
    }
    Path dir = out.getParent();
    boolean externalData =
        external == ExternalData.ALWAYS
            || ExternalInitializers.hasExternal(proto)
            || external == ExternalData.AUTO
                && ExternalInitializers.initializerBytes(proto) > AUTO_EXTERNAL_BYTES;
    Staged staged;
    try {
      staged = new Staged(out, AtomicFiles.Staged.next(out), externalData);
    } catch (IOException e) {
      throw new HeadwiseException("cannot write the model to " + target + ": " + e.getMessage(), e);
    }
    try {
      ModelProto toWrite = proto;
      if (externalData) {
        toWrite =
            writeData(
                proto,
                sourceDir,
                dataFile(staged.tempModel()),
                dataFile(out).getFileName().toString());
      }
      try (OutputStream os =
          new BufferedOutputStream(
              Files.newOutputStream(
                  staged.tempModel(), StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE),
              1 << 16)) {
        toWrite.writeTo(os);
      }
      return staged;
    } catch (IOException e) {
      staged.discard();
      throw new HeadwiseException("cannot write the model to " + target + ": " + e.getMessage(), e);
    } catch (RuntimeException e) {
      staged.discard();
      throw e;
    }
  }

  /**
   * Writes {@code proto} and its data straight to a directory of its own (working models; no
   * staging needed).
   */
  public static Path writeWorking(
      ModelProto proto, Path dir, String fileName, ExternalData external) {
    return writeWorking(proto, null, dir, fileName, external);
  }

  /**
   * {@link #writeWorking(ModelProto, Path, String, ExternalData)} with external initializers read
   * from {@code sourceDir}.
   */
  public static Path writeWorking(
      ModelProto proto, Path sourceDir, Path dir, String fileName, ExternalData external) {
    Staged s = stage(proto, sourceDir, dir.resolve(fileName), external);
    s.commit();
    return s.target();
  }

  /**
   * Appends the large initializers to {@code dataFile} and returns the proto that references them;
   * initializers that are external in {@code sourceDir} are copied from their file through a 1 MiB
   * buffer.
   */
  private static ModelProto writeData(
      ModelProto proto, Path sourceDir, Path dataFile, String location) throws IOException {
    GraphProto.Builder g = proto.getGraph().toBuilder();
    long offset = 0;
    byte[] chunk = new byte[1 << 20];
    try (ExternalInitializers.DataFiles files =
            sourceDir == null ? null : new ExternalInitializers.DataFiles(sourceDir, "");
        OutputStream os =
            new BufferedOutputStream(
                Files.newOutputStream(
                    dataFile, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE),
                1 << 20)) {
      for (int i = 0; i < g.getInitializerCount(); i++) {
        TensorProto t = g.getInitializer(i);
        long size;
        if (t.getDataLocation() == TensorProto.DataLocation.EXTERNAL) {
          size = copyExternal(t, files, chunk, os);
        } else {
          ByteString raw = t.getRawData();
          if (raw.size() < EXTERNAL_MIN_BYTES) {
            continue;
          }
          raw.writeTo(os);
          size = raw.size();
        }
        List<StringStringEntryProto> entries = new ArrayList<>();
        entries.add(entry("location", location));
        entries.add(entry("offset", Long.toString(offset)));
        entries.add(entry("length", Long.toString(size)));
        g.setInitializer(
            i,
            t.toBuilder()
                .clearRawData()
                .setDataLocation(TensorProto.DataLocation.EXTERNAL)
                .clearExternalData()
                .addAllExternalData(entries)
                .build());
        offset += size;
      }
    }
    return proto.toBuilder().setGraph(g).build();
  }

  /**
   * Copies an external initializer's bytes from its data file in {@code files} to {@code os};
   * returns the count.
   */
  private static long copyExternal(
      TensorProto t, ExternalInitializers.DataFiles files, byte[] chunk, OutputStream os)
      throws IOException {
    ExternalInitializers.Slice slice = files.slice(t);
    FileChannel ch = slice.channel();
    long length = slice.length();
    Path file = slice.file();
    ByteBuffer buf = ByteBuffer.wrap(chunk);
    long done = 0;
    while (done < length) {
      buf.clear();
      buf.limit((int) Math.min(chunk.length, length - done));
      int n = ch.read(buf, slice.offset() + done);
      if (n < 0) {
        throw new HeadwiseException(
            "external data file " + file + " ends before initializer " + t.getName());
      }
      os.write(chunk, 0, n);
      done += n;
    }
    return length;
  }

  private static StringStringEntryProto entry(String k, String v) {
    return StringStringEntryProto.newBuilder().setKey(k).setValue(v).build();
  }
}
