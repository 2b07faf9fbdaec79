package io.headwise.jobs.quantize;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The blocked {@code tr(ΔW·H·ΔWᵀ) / tr(W·H·Wᵀ)} equals the plain double sum, with K across several
 * blocks and a partial last block.
 */
class RelativeOutputErrorTest {
  @Test
  void blockedProductsEqualTheDirectSum() {
    Random rnd = new Random(5);
    int n = 7;
    int k = 1100; // 512 + 512 + 76
    double[][] w = new double[n][k];
    float[] q = new float[n * k];
    for (int r = 0; r < n; r++) {
      for (int c = 0; c < k; c++) {
        w[r][c] = rnd.nextGaussian();
        q[r * k + c] = (float) (w[r][c] + 0.1 * rnd.nextGaussian());
      }
    }
    double[][] x = new double[k + 3][k];
    for (double[] row : x) {
      for (int c = 0; c < k; c++) {
        row[c] = rnd.nextGaussian();
      }
    }
    double[][] h = new double[k][k]; // XᵀX: symmetric positive definite
    for (double[] row : x) {
      for (int i = 0; i < k; i++) {
        for (int j = 0; j < k; j++) {
          h[i][j] += row[i] * row[j];
        }
      }
    }
    double num = 0;
    double den = 0;
    for (int r = 0; r < n; r++) {
      for (int i = 0; i < k; i++) {
        double di = w[r][i] - q[r * k + i];
        for (int j = 0; j < k; j++) {
          num += di * h[i][j] * (w[r][j] - q[r * k + j]);
          den += w[r][i] * h[i][j] * w[r][j];
        }
      }
    }
    double expected = num / den;
    assertEquals(expected, QuantizeGroupTask.relativeOutputError(w, q, h), 1e-12 * expected);
  }
}
