package io.headwise.graph.synth;

import ai.onnx.proto.OnnxMl.StringStringEntryProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.SplittableRandom;

/**
 * Writes tensor data into one external-data file as it is generated, through a fixed 1 MiB buffer,
 * so a model of any size is written without its weights ever being in the heap. Each tensor becomes
 * a {@link TensorProto} that names {@code location}, {@code offset} and {@code length} (the ONNX
 * external-data fields). Tensors over 1 MiB start at a 64 KiB boundary: ONNX Runtime memory-maps an
 * external initializer only when its offset is aligned to the allocation granularity (4 KiB on
 * Linux, 64 KiB on Windows); otherwise it copies it into its own buffer.
 */
final class ExternalDataWriter implements Closeable {
  static final long ALIGN = 1 << 16;
  static final long ALIGN_THRESHOLD = 1 << 20;

  private final FileChannel channel;
  private final String location;
  private final ByteBuffer buffer =
      ByteBuffer.allocateDirect(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
  private long position;

  ExternalDataWriter(Path file, String location) throws IOException {
    this.channel = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
    this.location = location;
  }

  /** Bytes written so far (the final file size after {@link #close()}). */
  long size() {
    return position;
  }

  /**
   * Writes a tensor of {@code dims} whose values are uniform with standard deviation {@code std}
   * around {@code mean} (uniform rather than Gaussian: same second moment, a fraction of the
   * generation time).
   */
  TensorProto random(
      String name, long[] dims, SynthDtype dtype, float mean, float std, SplittableRandom rng)
      throws IOException {
    long count = numel(dims);
    double halfWidth = std * Math.sqrt(3.0);
    long bytes = count * dtype.type.byteSize();
    if (bytes >= ALIGN_THRESHOLD && position % ALIGN != 0) {
      pad(ALIGN - position % ALIGN);
    }
    long offset = position;
    for (long i = 0; i < count; i++) {
      float v = (float) (mean + (rng.nextDouble() * 2 - 1) * halfWidth);
      if (buffer.remaining() < 4) {
        flush();
      }
      dtype.put(buffer, v);
    }
    position += bytes;
    TensorProto.Builder t =
        TensorProto.newBuilder()
            .setName(name)
            .setDataType(dtype.type.code())
            .setDataLocation(TensorProto.DataLocation.EXTERNAL);
    for (long d : dims) {
      t.addDims(d);
    }
    t.addExternalData(entry("location", location));
    t.addExternalData(entry("offset", Long.toString(offset)));
    t.addExternalData(entry("length", Long.toString(bytes)));
    return t.build();
  }

  private void pad(long n) throws IOException {
    for (long i = 0; i < n; i++) {
      if (!buffer.hasRemaining()) {
        flush();
      }
      buffer.put((byte) 0);
    }
    position += n;
  }

  private void flush() throws IOException {
    buffer.flip();
    while (buffer.hasRemaining()) {
      channel.write(buffer);
    }
    buffer.clear();
  }

  @Override
  public void close() throws IOException {
    if (!channel.isOpen()) {
      return;
    }
    try {
      flush();
      channel.force(false);
    } finally {
      channel.close();
    }
  }

  static long numel(long[] dims) {
    long n = 1;
    for (long d : dims) {
      n = Math.multiplyExact(n, d);
    }
    return n;
  }

  private static StringStringEntryProto entry(String key, String value) {
    return StringStringEntryProto.newBuilder().setKey(key).setValue(value).build();
  }
}
