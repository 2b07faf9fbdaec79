package io.headwise.planners.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class TokenImportanceTest {

  @Test
  void mapsMinMaxToRangeThenNormalisesToMeanOne() {
    double[] s = {10, 2, 6, 2};
    double[] r = TokenImportance.mapToRange(s, 0.005, 1, TokenImportance.Normalization.NONE);
    assertArrayEquals(new double[] {1, 0.005, 0.5025, 0.005}, r, 1e-15);
    double[] w = TokenImportance.weights(s);
    double mean = (1 + 0.005 + 0.5025 + 0.005) / 4;
    assertArrayEquals(new double[] {1 / mean, 0.005 / mean, 0.5025 / mean, 0.005 / mean}, w, 1e-12);
    double sum = 0;
    for (double v : w) {
      sum += v;
    }
    assertEquals(4.0, sum, 1e-12);
  }

  @Test
  void customMinimumAndCausalNormalisation() {
    double[] s = {4, 3, 2, 1}; // the first token is seen by 4 queries, the last by 1
    double[] linear = TokenImportance.mapToRange(s, 0.1, 1, TokenImportance.Normalization.LINEAR);
    assertArrayEquals(
        new double[] {1, 1, 1, 1}, linear, 1e-15); // all equal to 1: max == min maps to rMax
    double[] sqrt =
        TokenImportance.mapToRange(new double[] {4, 1}, 0.1, 1, TokenImportance.Normalization.SQRT);
    // 4/√2 ≈ 2.83 is the max, 1/1 the min
    assertArrayEquals(new double[] {1, 0.1}, sqrt, 1e-15);
    double[] w = TokenImportance.weights(new double[] {0, 1}, 0.5);
    assertArrayEquals(new double[] {0.5 / 0.75, 1 / 0.75}, w, 1e-15);
  }

  @Test
  void constantScoresGiveUnitWeights() {
    assertArrayEquals(new double[] {1, 1, 1}, TokenImportance.weights(new double[] {3, 3, 3}), 0);
    assertThrows(IllegalArgumentException.class, () -> TokenImportance.weights(new double[0]));
    assertThrows(
        IllegalArgumentException.class, () -> TokenImportance.weights(new double[] {1, 2}, 0));
  }

  @Test
  void hessianAccumulatorWeightsTokensAndMerges() {
    int k = 5;
    int t = 7;
    double[][] x = QuantTestData.gaussian(t, k, 3);
    float[] flat = new float[t * k];
    for (int i = 0; i < t; i++) {
      for (int j = 0; j < k; j++) {
        flat[i * k + j] = (float) x[i][j];
      }
    }
    double[] w = TokenImportance.weights(new double[] {5, 1, 2, 9, 3, 3, 0});
    HessianAccumulator a = new HessianAccumulator(k);
    a.addSequence(flat, t, w);
    HessianAccumulator b = new HessianAccumulator(k);
    b.addSequence(flat, t, null);
    a.merge(b);
    double[][] h = a.hessian();
    for (int i = 0; i < k; i++) {
      for (int j = 0; j < k; j++) {
        double expected = 0;
        for (int r = 0; r < t; r++) {
          double xi = (float) x[r][i];
          double xj = (float) x[r][j];
          expected += (w[r] + 1) * xi * xj;
        }
        assertEquals(2.0 / 2 * expected, h[i][j], 1e-9);
      }
    }
    assertEquals(2, a.sequences());
  }
}
