package io.headwise.planners.quant;

import java.util.stream.IntStream;

/**
 * Round-to-nearest quantization: each group's grid is fitted and every weight rounded
 * independently.
 */
public final class RtnQuantizer {

  private RtnQuantizer() {}

  /** Fills {@code into} with output row {@code row} of a weight ({@code [K]} values). */
  @FunctionalInterface
  public interface RowReader {
    void read(int row, double[] into);
  }

  /**
   * Quantizes {@code weightOutIn} ({@code [N_out][K]}, row = output channel). The input is not
   * modified.
   */
  public static QuantizedWeight quantize(double[][] weightOutIn, QuantConfig config) {
    int rows = weightOutIn.length;
    if (rows == 0) {
      throw new IllegalArgumentException("weight has no rows");
    }
    int cols = weightOutIn[0].length;
    return quantize(
        rows,
        cols,
        (n, into) -> {
          double[] row = weightOutIn[n];
          if (row.length != cols) {
            throw new IllegalArgumentException(
                "row " + n + " has " + row.length + " columns, expected " + cols);
          }
          System.arraycopy(row, 0, into, 0, cols);
        },
        config);
  }

  /**
   * Quantizes a {@code rows × cols} weight read one output row at a time, so that the weight never
   * needs to exist as doubles: each row is rounded independently, and a 4096 × 14336 linear of a
   * Llama-3-8B-shaped model then costs its float source plus one byte per code instead of two
   * double copies (the large-model test runs quantize in a 2 GiB heap).
   */
  public static QuantizedWeight quantize(int rows, int cols, RowReader reader, QuantConfig config) {
    if (rows < 1 || cols < 1) {
      throw new IllegalArgumentException("shape must be positive, got " + rows + "x" + cols);
    }
    int groupWidth = config.groupWidth(cols);
    int groups = config.groupCount(cols);
    int maxCode = config.maxCode();
    byte[] codes = new byte[Math.multiplyExact(rows, cols)];
    double[] scales = new double[rows * groups];
    int[] zeros = new int[rows * groups];
    IntStream.range(0, rows)
        .parallel()
        .forEach(
            n -> {
              double[] row = new double[cols];
              reader.read(n, row);
              for (int g = 0; g < groups; g++) {
                int from = g * groupWidth;
                int to = Math.min(cols, from + groupWidth);
                GridParams p = QuantGrid.fit(row, from, to, config);
                scales[n * groups + g] = p.scale();
                zeros[n * groups + g] = p.zero();
                for (int k = from; k < to; k++) {
                  codes[n * cols + k] = (byte) QuantGrid.code(row[k], p.scale(), p.zero(), maxCode);
                }
              }
            });
    return QuantizedWeight.wrap(rows, cols, config, codes, scales, zeros);
  }
}
