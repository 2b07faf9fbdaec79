package io.headwise.export.quant;

import ai.onnxruntime.platform.Fp16Conversions;
import io.headwise.planners.quant.QuantizedWeight;
import java.util.Optional;

/**
 * The packed tensors and attributes of one {@code com.microsoft::MatMulNBits} node: {@code B},
 * {@code scales} and optional {@code zero_points} in the layout of {@link MatMulNBitsPacking}.
 *
 * @param k input dimension K (attribute {@code K})
 * @param n output dimension N (attribute {@code N})
 * @param bits container width (attribute {@code bits}: 2, 4 or 8)
 * @param blockSize attribute {@code block_size}
 * @param packedB uint8 {@code [N, kBlocks, blob]}
 * @param scales float {@code [N, kBlocks]}
 * @param packedZeroPoints uint8 {@code [N, ceil(kBlocks·bits/8)]}, or empty for the default {@code
 *     2^(bits−1)}
 * @param quantBits bits of the codes inside the containers (3 for RSQ's 3-bit weights in 4-bit
 *     containers)
 */
public record MatMulNBitsWeights(
    int k,
    int n,
    int bits,
    int blockSize,
    byte[] packedB,
    float[] scales,
    Optional<byte[]> packedZeroPoints,
    int quantBits) {

  /**
   * Default block size when the weight is quantized per channel (scales replicated across blocks).
   */
  public static final int DEFAULT_PER_CHANNEL_BLOCK = 128;

  public MatMulNBitsWeights {
    MatMulNBitsPacking.checkLayout(bits, blockSize);
    int kb = MatMulNBitsPacking.kBlocks(k, blockSize);
    if (packedB.length != (long) n * kb * MatMulNBitsPacking.blobBytes(blockSize, bits)) {
      throw new IllegalArgumentException("B has " + packedB.length + " bytes, not N*kBlocks*blob");
    }
    if (scales.length != (long) n * kb) {
      throw new IllegalArgumentException(
          "scales have " + scales.length + " entries, not N*kBlocks");
    }
    if (packedZeroPoints.isPresent()
        && packedZeroPoints.get().length
            != (long) n * MatMulNBitsPacking.zeroPointRowBytes(kb, bits)) {
      throw new IllegalArgumentException(
          "zero points have " + packedZeroPoints.get().length + " bytes");
    }
  }

  /**
   * Packs a quantized weight with its own group size as the block size (per-channel weights use
   * {@link #DEFAULT_PER_CHANNEL_BLOCK}, capped at the next power of two ≥ K).
   */
  public static MatMulNBitsWeights from(QuantizedWeight weight) {
    int blockSize;
    if (weight.config().perChannel()) {
      blockSize =
          Math.min(
              DEFAULT_PER_CHANNEL_BLOCK,
              Math.max(16, Integer.highestOneBit(weight.cols() - 1) << 1));
    } else {
      blockSize = weight.config().groupSize();
    }
    return from(weight, blockSize);
  }

  /**
   * Packs a quantized weight ({@code [N][K]}, PyTorch orientation) into {@code MatMulNBits}
   * tensors.
   *
   * <p>Groups must be whole multiples of the block ({@code groupSize % blockSize == 0}), or per
   * channel; each block gets its group's scale and zero point, so dequantization is unchanged.
   * Codes go into {@link MatMulNBitsPacking#containerBits} containers. When every zero point is the
   * symmetric {@code 2^(bits−1)}, codes are shifted by {@code 2^(container−1) − 2^(bits−1)} and no
   * zero-point input is written (the operator's default); otherwise zero points are packed. Padding
   * past K holds the block's zero point. Scales are rounded to float.
   */
  public static MatMulNBitsWeights from(QuantizedWeight weight, int blockSize) {
    return from(weight, blockSize, MatMulNBitsPacking.containerBits(weight.config().bits()));
  }

  /**
   * As {@link #from(QuantizedWeight, int)} with an explicit container width (2, 4 or 8, at least
   * the code width), e.g. 2 for 2-bit codes on an execution provider with a 2-bit kernel.
   */
  public static MatMulNBitsWeights from(QuantizedWeight weight, int blockSize, int container) {
    int bits = weight.config().bits();
    if (container < bits) {
      throw new IllegalArgumentException(
          bits + "-bit codes do not fit " + container + "-bit containers");
    }
    MatMulNBitsPacking.checkLayout(container, blockSize);
    int n = weight.rows();
    int k = weight.cols();
    if (!weight.config().perChannel() && weight.groupWidth() % blockSize != 0) {
      throw new IllegalArgumentException(
          "group size "
              + weight.groupWidth()
              + " is not a multiple of block_size "
              + blockSize
              + "; quantize with groups of "
              + blockSize
              + " (or a multiple)");
    }
    int kb = MatMulNBitsPacking.kBlocks(k, blockSize);
    boolean symmetric = weight.hasSymmetricZeros();
    int shift = symmetric ? (1 << (container - 1)) - (1 << (bits - 1)) : 0;
    int[] codes = new int[n * k];
    int[] padCodes = new int[n];
    float[] scales = new float[n * kb];
    int[] zeros = new int[n * kb];
    for (int row = 0; row < n; row++) {
      for (int col = 0; col < k; col++) {
        codes[row * k + col] = weight.code(row, col) + shift;
      }
      for (int b = 0; b < kb; b++) {
        int group = weight.groupOf(b * blockSize);
        scales[row * kb + b] = (float) weight.scale(row, group);
        zeros[row * kb + b] = weight.zero(row, group) + shift;
      }
      padCodes[row] = zeros[row * kb + kb - 1];
    }
    byte[] packedB = MatMulNBitsPacking.packCodes(codes, n, k, container, blockSize, padCodes);
    Optional<byte[]> packedZeros =
        symmetric
            ? Optional.empty()
            : Optional.of(MatMulNBitsPacking.packZeroPoints(zeros, n, kb, container));
    return new MatMulNBitsWeights(k, n, container, blockSize, packedB, scales, packedZeros, bits);
  }

  /**
   * The same weights with every scale rounded to the nearest float16 value, i.e. what a float16
   * model's {@code scales} initializer holds; use it for the Java reference of a float16 graph.
   */
  public MatMulNBitsWeights withHalfPrecisionScales() {
    float[] rounded = new float[scales.length];
    for (int i = 0; i < scales.length; i++) {
      rounded[i] = Fp16Conversions.fp16ToFloat(Fp16Conversions.floatToFp16(scales[i]));
    }
    return new MatMulNBitsWeights(
        k, n, bits, blockSize, packedB, rounded, packedZeroPoints, quantBits);
  }

  /** Number of blocks per row. */
  public int kBlocks() {
    return MatMulNBitsPacking.kBlocks(k, blockSize);
  }

  /** The weights as the operator sees them, {@code [N][K]} row-major floats. */
  public float[] dequantizeOutIn() {
    return MatMulNBitsPacking.dequantize(
        packedB, scales, packedZeroPoints.orElse(null), n, k, bits, blockSize);
  }

  /** The weights in ONNX MatMul orientation, {@code [K][N]} row-major floats ({@code y = x·B}). */
  public float[] dequantizeInOut() {
    return MatMulNBitsPacking.transpose(dequantizeOutIn(), n, k);
  }
}
