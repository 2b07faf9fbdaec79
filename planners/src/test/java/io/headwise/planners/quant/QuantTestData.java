package io.headwise.planners.quant;

import java.util.Random;

/** Random weights and Hessians for the quantization tests. */
final class QuantTestData {

  private QuantTestData() {}

  static double[][] gaussian(int rows, int cols, long seed) {
    Random random = new Random(seed);
    double[][] m = new double[rows][cols];
    for (double[] row : m) {
      for (int j = 0; j < cols; j++) {
        row[j] = random.nextGaussian();
      }
    }
    return m;
  }

  /**
   * A positive-definite Hessian {@code XᵀX / tokens} from correlated activations with a few outlier
   * channels, like a real layer input.
   */
  static double[][] hessian(int k, int tokens, long seed) {
    Random random = new Random(seed);
    double[] channelScale = new double[k];
    for (int j = 0; j < k; j++) {
      channelScale[j] = Math.exp(0.5 * random.nextGaussian()) * (j % 17 == 3 ? 8 : 1);
    }
    double[][] mix = gaussian(k, k, seed + 1);
    double[][] h = new double[k][k];
    double[] x = new double[k];
    double[] z = new double[k];
    for (int t = 0; t < tokens; t++) {
      for (int j = 0; j < k; j++) {
        z[j] = random.nextGaussian();
      }
      for (int j = 0; j < k; j++) {
        double v = z[j];
        for (int l = 0; l < Math.min(k, 4); l++) {
          v += 0.5 * mix[j][l] * z[l];
        }
        x[j] = v * channelScale[j];
      }
      for (int i = 0; i < k; i++) {
        for (int j = 0; j < k; j++) {
          h[i][j] += x[i] * x[j] / tokens;
        }
      }
    }
    return h;
  }

  /** {@code tr((W − Q)·H·(W − Q)ᵀ)}: the output error GPTQ minimises. */
  static double hessianWeightedError(double[][] w, double[][] q, double[][] h) {
    int k = h.length;
    double total = 0;
    double[] d = new double[k];
    for (int n = 0; n < w.length; n++) {
      for (int j = 0; j < k; j++) {
        d[j] = w[n][j] - q[n][j];
      }
      for (int i = 0; i < k; i++) {
        double s = 0;
        for (int j = 0; j < k; j++) {
          s += h[i][j] * d[j];
        }
        total += d[i] * s;
      }
    }
    return total;
  }

  static double[][] identity(int k) {
    double[][] m = new double[k][k];
    for (int i = 0; i < k; i++) {
      m[i][i] = 1;
    }
    return m;
  }
}
