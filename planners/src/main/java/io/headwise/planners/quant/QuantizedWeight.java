package io.headwise.planners.quant;

import java.util.Objects;

/**
 * A quantized weight matrix in PyTorch orientation ({@code [N_out][K]}, row = output channel):
 * unsigned codes, and one scale and zero point per (output row, static group along K).
 *
 * <p>Element {@code (n, k)} stands for {@code (code(n,k) − zero(n, k / groupWidth)) · scale(n, k /
 * groupWidth)}. Instances are immutable; accessors copy nothing, so they are cheap to call in
 * loops.
 */
public final class QuantizedWeight {

  private final int rows;
  private final int cols;
  private final QuantConfig config;
  private final int groupWidth;
  private final int groupCount;
  private final byte[] codes;
  private final double[] scales;
  private final int[] zeros;

  private QuantizedWeight(
      int rows, int cols, QuantConfig config, byte[] codes, double[] scales, int[] zeros) {
    this.rows = rows;
    this.cols = cols;
    this.config = config;
    this.groupWidth = config.groupWidth(cols);
    this.groupCount = config.groupCount(cols);
    this.codes = codes;
    this.scales = scales;
    this.zeros = zeros;
  }

  /**
   * Wraps codes and grid parameters produced elsewhere, after checking shapes and ranges. The
   * arrays are copied.
   *
   * @param codes row-major {@code [rows][cols]}, each in {@code [0, 2^bits − 1]} (read unsigned)
   * @param scales row-major {@code [rows][groupCount]}, positive and finite
   * @param zeros row-major {@code [rows][groupCount]}, each in {@code [0, 2^bits − 1]}
   */
  public static QuantizedWeight of(
      int rows, int cols, QuantConfig config, byte[] codes, double[] scales, int[] zeros) {
    Objects.requireNonNull(config, "config");
    if (rows < 1 || cols < 1) {
      throw new IllegalArgumentException("shape must be positive, got " + rows + "x" + cols);
    }
    int groups = config.groupCount(cols);
    if (codes.length != (long) rows * cols) {
      throw new IllegalArgumentException(
          "codes has " + codes.length + " entries, expected " + (long) rows * cols);
    }
    if (scales.length != rows * groups || zeros.length != rows * groups) {
      throw new IllegalArgumentException(
          "scales/zeros must have rows*groups = " + rows * groups + " entries");
    }
    int maxCode = config.maxCode();
    for (byte c : codes) {
      if ((c & 0xFF) > maxCode) {
        throw new IllegalArgumentException("code " + (c & 0xFF) + " exceeds " + maxCode);
      }
    }
    for (int i = 0; i < scales.length; i++) {
      if (!(scales[i] > 0) || Double.isInfinite(scales[i])) {
        throw new IllegalArgumentException(
            "scale " + scales[i] + " at " + i + " is not positive and finite");
      }
      if (zeros[i] < 0 || zeros[i] > maxCode) {
        throw new IllegalArgumentException(
            "zero point " + zeros[i] + " at " + i + " outside [0, " + maxCode + "]");
      }
    }
    return new QuantizedWeight(rows, cols, config, codes.clone(), scales.clone(), zeros.clone());
  }

  /** Takes ownership of already-validated arrays (package internal, used by the quantizers). */
  static QuantizedWeight wrap(
      int rows, int cols, QuantConfig config, byte[] codes, double[] scales, int[] zeros) {
    return new QuantizedWeight(rows, cols, config, codes, scales, zeros);
  }

  /** Output channels N. */
  public int rows() {
    return rows;
  }

  /** Input dimension K. */
  public int cols() {
    return cols;
  }

  /** The configuration the weight was quantized with. */
  public QuantConfig config() {
    return config;
  }

  /** Columns per group ({@code cols} when per channel). */
  public int groupWidth() {
    return groupWidth;
  }

  /** Groups per output row. */
  public int groupCount() {
    return groupCount;
  }

  /** The group that input column {@code col} belongs to. */
  public int groupOf(int col) {
    return col / groupWidth;
  }

  /** Unsigned code of element {@code (row, col)}. */
  public int code(int row, int col) {
    return codes[row * cols + col] & 0xFF;
  }

  /** Scale of {@code (row, group)}. */
  public double scale(int row, int group) {
    return scales[row * groupCount + group];
  }

  /** Zero point of {@code (row, group)}. */
  public int zero(int row, int group) {
    return zeros[row * groupCount + group];
  }

  /** Whether every zero point equals the symmetric default {@code 2^(bits−1)}. */
  public boolean hasSymmetricZeros() {
    int z = config.symmetricZero();
    for (int zero : zeros) {
      if (zero != z) {
        return false;
      }
    }
    return true;
  }

  /** Dequantized value of element {@code (row, col)}. */
  public double dequantized(int row, int col) {
    int g = col / groupWidth;
    return QuantGrid.dequantize(code(row, col), scale(row, g), zero(row, g));
  }

  /**
   * The dequantized matrix {@code [rows][cols]} in double (what GPTQ's loss was measured against).
   */
  public double[][] dequantize() {
    double[][] out = new double[rows][cols];
    for (int n = 0; n < rows; n++) {
      double[] row = out[n];
      for (int k = 0; k < cols; k++) {
        row[k] = dequantized(n, k);
      }
    }
    return out;
  }
}
