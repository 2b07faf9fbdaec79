package io.headwise.planners.quant;

import java.util.stream.IntStream;

/**
 * Round-to-nearest quantization: each group's grid is fitted and every weight rounded
 * independently.
 */
public final class RtnQuantizer {

  private RtnQuantizer() {}

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
              double[] row = weightOutIn[n];
              if (row.length != cols) {
                throw new IllegalArgumentException(
                    "row " + n + " has " + row.length + " columns, expected " + cols);
              }
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
