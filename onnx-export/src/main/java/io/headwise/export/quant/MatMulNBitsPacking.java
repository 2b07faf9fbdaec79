package io.headwise.export.quant;

/**
 * Bit layout of ONNX Runtime's {@code com.microsoft::MatMulNBits} weights (contrib op spec, {@code
 * docs/ContribOperators.md}), packing and unpacking, and a Java dequantization.
 *
 * <p>Row {@code n} of every tensor is output channel {@code n} (PyTorch orientation); an ONNX
 * MatMul initializer {@code [K, N]} ({@code y = x·B}) must be transposed first. With {@code kBlocks
 * = ceil(K / blockSize)} and {@code blob = blockSize · bits / 8}:
 *
 * <ul>
 *   <li>{@code B}: uint8 {@code [N, kBlocks, blob]}; element {@code k} of block {@code kb} of row
 *       {@code n} lives at byte {@code (n·kBlocks + kb)·blob + (k % blockSize)·bits/8}, bit offset
 *       {@code ((k % blockSize)·bits) % 8}, low bits first (4-bit: even element in the low nibble).
 *       K is padded to {@code kBlocks · blockSize}.
 *   <li>{@code scales}: float {@code [N, kBlocks]}.
 *   <li>{@code zero_points} (optional): uint8 {@code [N, ceil(kBlocks·bits/8)]}, each row padded to
 *       whole bytes, zero point of block {@code kb} at bit offset {@code kb·bits} of its row
 *       (4-bit: low nibble for even {@code kb}). When absent the zero point is {@code 2^(bits−1)}.
 * </ul>
 *
 * Dequantization is {@code (q − zp) · scale}. Supported container widths: 2, 4 and 8 bits.
 */
public final class MatMulNBitsPacking {

  private MatMulNBitsPacking() {}

  /**
   * The narrowest container ONNX Runtime 1.23 runs on the CPU for {@code bits}-bit codes: 2 to 4 →
   * 4, 5 to 8 → 8. The CPU kernel of 1.23.2 accepts only {@code bits} 4 and 8 ("Only 4b and 8b
   * quantization is supported"), and there is no 3-bit kernel anywhere, so 2- and 3-bit codes are
   * stored in 4-bit containers (same values, 4-bit memory). 2-bit containers can still be packed
   * explicitly for execution providers that run them.
   */
  public static int containerBits(int bits) {
    if (bits >= 2 && bits <= 4) {
      return 4;
    }
    if (bits >= 5 && bits <= 8) {
      return 8;
    }
    throw new IllegalArgumentException("no MatMulNBits container for " + bits + "-bit codes");
  }

  /** {@code ceil(k / blockSize)}. */
  public static int kBlocks(int k, int blockSize) {
    return (k + blockSize - 1) / blockSize;
  }

  /** Bytes per block of one row, {@code blockSize · bits / 8}. */
  public static int blobBytes(int blockSize, int bits) {
    return blockSize * bits / 8;
  }

  /** Bytes per row of the packed zero points, {@code ceil(kBlocks · bits / 8)}. */
  public static int zeroPointRowBytes(int kBlocks, int bits) {
    return (kBlocks * bits + 7) / 8;
  }

  /** Checks {@code bits ∈ {2, 4, 8}} and that {@code blockSize} is a power of two ≥ 16. */
  public static void checkLayout(int bits, int blockSize) {
    if (bits != 2 && bits != 4 && bits != 8) {
      throw new IllegalArgumentException("MatMulNBits containers are 2, 4 or 8 bits, got " + bits);
    }
    if (blockSize < 16 || Integer.bitCount(blockSize) != 1) {
      throw new IllegalArgumentException(
          "MatMulNBits block_size must be a power of two >= 16, got " + blockSize);
    }
  }

  /**
   * Packs codes {@code [N][K]} (row-major) into {@code B [N, kBlocks, blob]}.
   *
   * @param padCodes per row, the code written into the padding of the last block (usually the row's
   *     last zero point, so padding dequantizes to 0); {@code null} pads with 0
   */
  public static byte[] packCodes(
      int[] codes, int n, int k, int bits, int blockSize, int[] padCodes) {
    checkLayout(bits, blockSize);
    if (codes.length != (long) n * k) {
      throw new IllegalArgumentException(
          "codes has " + codes.length + " entries, expected " + n + "x" + k);
    }
    int kb = kBlocks(k, blockSize);
    int blob = blobBytes(blockSize, bits);
    int max = (1 << bits) - 1;
    byte[] out = new byte[Math.multiplyExact(Math.multiplyExact(n, kb), blob)];
    int paddedK = kb * blockSize;
    for (int row = 0; row < n; row++) {
      for (int col = 0; col < paddedK; col++) {
        int code = col < k ? codes[row * k + col] : (padCodes == null ? 0 : padCodes[row]);
        if (code < 0 || code > max) {
          throw new IllegalArgumentException(
              "code " + code + " at (" + row + ", " + col + ") does not fit " + bits + " bits");
        }
        put(out, (row * kb + col / blockSize) * blob, (col % blockSize) * bits, bits, code);
      }
    }
    return out;
  }

  /** Inverse of {@link #packCodes}: codes {@code [N][K]} row-major (padding dropped). */
  public static int[] unpackCodes(byte[] packed, int n, int k, int bits, int blockSize) {
    checkLayout(bits, blockSize);
    int kb = kBlocks(k, blockSize);
    int blob = blobBytes(blockSize, bits);
    if (packed.length != (long) n * kb * blob) {
      throw new IllegalArgumentException(
          "packed B has " + packed.length + " bytes, expected " + (long) n * kb * blob);
    }
    int[] out = new int[n * k];
    for (int row = 0; row < n; row++) {
      for (int col = 0; col < k; col++) {
        out[row * k + col] =
            get(packed, (row * kb + col / blockSize) * blob, (col % blockSize) * bits, bits);
      }
    }
    return out;
  }

  /**
   * Packs zero points {@code [N][kBlocks]} (row-major) into {@code [N, ceil(kBlocks·bits/8)]}; row
   * padding is 0.
   */
  public static byte[] packZeroPoints(int[] zeroPoints, int n, int kBlocks, int bits) {
    if (bits != 2 && bits != 4 && bits != 8) {
      throw new IllegalArgumentException("zero points are packed in 2, 4 or 8 bits, got " + bits);
    }
    if (zeroPoints.length != (long) n * kBlocks) {
      throw new IllegalArgumentException(
          "zero points have " + zeroPoints.length + " entries, expected " + n + "x" + kBlocks);
    }
    int rowBytes = zeroPointRowBytes(kBlocks, bits);
    int max = (1 << bits) - 1;
    byte[] out = new byte[n * rowBytes];
    for (int row = 0; row < n; row++) {
      for (int b = 0; b < kBlocks; b++) {
        int z = zeroPoints[row * kBlocks + b];
        if (z < 0 || z > max) {
          throw new IllegalArgumentException(
              "zero point " + z + " at (" + row + ", " + b + ") does not fit " + bits + " bits");
        }
        put(out, row * rowBytes, b * bits, bits, z);
      }
    }
    return out;
  }

  /** Inverse of {@link #packZeroPoints}. */
  public static int[] unpackZeroPoints(byte[] packed, int n, int kBlocks, int bits) {
    int rowBytes = zeroPointRowBytes(kBlocks, bits);
    if (packed.length != (long) n * rowBytes) {
      throw new IllegalArgumentException(
          "packed zero points have " + packed.length + " bytes, expected " + (long) n * rowBytes);
    }
    int[] out = new int[n * kBlocks];
    for (int row = 0; row < n; row++) {
      for (int b = 0; b < kBlocks; b++) {
        out[row * kBlocks + b] = get(packed, row * rowBytes, b * bits, bits);
      }
    }
    return out;
  }

  /**
   * Dequantizes packed weights the way the operator does: {@code [N][K]} row-major floats, {@code
   * (q − zp) · scale} with {@code zp = 2^(bits−1)} when {@code packedZeroPoints} is null.
   */
  public static float[] dequantize(
      byte[] packedB,
      float[] scales,
      byte[] packedZeroPoints,
      int n,
      int k,
      int bits,
      int blockSize) {
    int kb = kBlocks(k, blockSize);
    if (scales.length != (long) n * kb) {
      throw new IllegalArgumentException(
          "scales have " + scales.length + " entries, expected " + n + "x" + kb);
    }
    int[] codes = unpackCodes(packedB, n, k, bits, blockSize);
    int[] zeros = packedZeroPoints == null ? null : unpackZeroPoints(packedZeroPoints, n, kb, bits);
    int defaultZero = 1 << (bits - 1);
    float[] out = new float[n * k];
    for (int row = 0; row < n; row++) {
      for (int col = 0; col < k; col++) {
        int b = col / blockSize;
        int z = zeros == null ? defaultZero : zeros[row * kb + b];
        out[row * k + col] = (codes[row * k + col] - z) * scales[row * kb + b];
      }
    }
    return out;
  }

  /** Transposes a row-major {@code [rows][cols]} float matrix. */
  public static float[] transpose(float[] m, int rows, int cols) {
    float[] t = new float[m.length];
    for (int r = 0; r < rows; r++) {
      for (int c = 0; c < cols; c++) {
        t[c * rows + r] = m[r * cols + c];
      }
    }
    return t;
  }

  private static void put(byte[] out, int base, int bitOffset, int bits, int value) {
    int index = base + bitOffset / 8;
    int shift = bitOffset % 8;
    int mask = ((1 << bits) - 1) << shift;
    out[index] = (byte) ((out[index] & ~mask) | ((value << shift) & mask));
  }

  private static int get(byte[] in, int base, int bitOffset, int bits) {
    return ((in[base + bitOffset / 8] & 0xFF) >>> (bitOffset % 8)) & ((1 << bits) - 1);
  }
}
