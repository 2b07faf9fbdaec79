package io.headwise.planners.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class QuantGridTest {

  @Test
  void asymmetricGridClampsRangeAroundZero() {
    double[] w = {0.5, 1.0, 2.5, 3.0};
    GridParams p = QuantGrid.fit(w, 0, w.length, QuantConfig.asymmetric(4, 4));
    // min is clamped to 0, so the grid spans [0, 3]
    assertEquals(3.0 / 15, p.scale(), 1e-15);
    assertEquals(0, p.zero());
    double[] neg = {-1.0, -0.5, 2.0};
    GridParams q = QuantGrid.fit(neg, 0, neg.length, QuantConfig.asymmetric(4, 3));
    assertEquals(3.0 / 15, q.scale(), 1e-15);
    assertEquals(5, q.zero()); // rint(1 / 0.2)
  }

  @Test
  void allZeroGroupsUseMinusOneToOne() {
    double[] w = new double[8];
    GridParams p = QuantGrid.fit(w, 0, 8, QuantConfig.asymmetric(3, 8));
    assertEquals(2.0 / 7, p.scale(), 1e-15);
    assertEquals(4, p.zero()); // rint(3.5) = 4 (half to even)
    assertEquals(
        0.0, QuantGrid.dequantize(QuantGrid.code(0, p.scale(), p.zero(), 7), p.scale(), p.zero()));
  }

  @Test
  void symmetricGridUsesFixedZeroPointAndAbsMax() {
    double[] w = {-0.7, 0.1, 0.35};
    for (int bits : new int[] {3, 4, 8}) {
      QuantConfig c = QuantConfig.symmetric(bits, -1);
      GridParams p = QuantGrid.fit(w, 0, 3, c);
      assertEquals(1 << (bits - 1), p.zero());
      assertEquals(0.7 / ((1 << (bits - 1)) - 1), p.scale(), 1e-15);
      // the extreme value is representable exactly
      int code = QuantGrid.code(-0.7, p.scale(), p.zero(), c.maxCode());
      assertEquals(1, code);
      assertEquals(-0.7, QuantGrid.dequantize(code, p.scale(), p.zero()), 1e-15);
    }
  }

  @Test
  void tinyRangesAreClampedToMinimumRange() {
    double[] w = {1e-9, -2e-9};
    GridParams a = QuantGrid.fit(w, 0, 2, QuantConfig.asymmetric(4, 2));
    assertEquals(1e-5 / 15, a.scale(), 1e-20);
    GridParams s = QuantGrid.fit(w, 0, 2, QuantConfig.symmetric(4, 2));
    assertEquals(1e-5 / 7, s.scale(), 1e-20);
  }

  @Test
  void roundsHalfToEven() {
    assertEquals(2, QuantGrid.code(2.5, 1, 0, 15));
    assertEquals(4, QuantGrid.code(3.5, 1, 0, 15));
    assertEquals(8 - 2, QuantGrid.code(-2.5, 1, 8, 15));
    assertEquals(0, QuantGrid.code(-100, 1, 8, 15));
    assertEquals(15, QuantGrid.code(100, 1, 8, 15));
  }

  @Test
  void clipSearchNeverIncreasesTheSearchError() {
    double[][] w = QuantTestData.gaussian(20, 128, 7);
    for (QuantScheme scheme : QuantScheme.values()) {
      for (int bits : new int[] {3, 4}) {
        QuantConfig plain = new QuantConfig(bits, -1, scheme, false);
        QuantConfig clipped = plain.withClipSearch(true);
        boolean shrunkSomewhere = false;
        for (double[] row : w) {
          GridParams p0 = QuantGrid.fit(row, 0, row.length, plain);
          GridParams p1 = QuantGrid.fit(row, 0, row.length, clipped);
          assertTrue(normError(row, p1, bits) <= normError(row, p0, bits) + 1e-12);
          shrunkSomewhere |= p1.scale() < p0.scale() * 0.999;
        }
        assertTrue(
            shrunkSomewhere, "Gaussian rows should prefer a clipped range at " + bits + " bits");
      }
    }
  }

  private static double normError(double[] row, GridParams p, int bits) {
    double e = 0;
    for (double v : row) {
      double q =
          QuantGrid.dequantize(
              QuantGrid.code(v, p.scale(), p.zero(), (1 << bits) - 1), p.scale(), p.zero());
      e += Math.pow(Math.abs(q - v), QuantGrid.CLIP_NORM);
    }
    return e;
  }

  @Test
  void rtnReadRowByRowFromATransposedSourceEqualsTheMatrixForm() {
    double[][] w = QuantTestData.gaussian(7, 90, 11);
    QuantConfig config = QuantConfig.asymmetric(4, 32);
    QuantizedWeight whole = RtnQuantizer.quantize(w, config);
    double[] inOut = new double[90 * 7]; // [K, N] as MatMul holds it
    for (int n = 0; n < 7; n++) {
      for (int k = 0; k < 90; k++) {
        inOut[k * 7 + n] = w[n][k];
      }
    }
    QuantizedWeight rows =
        RtnQuantizer.quantize(
            7,
            90,
            (n, into) -> {
              for (int k = 0; k < 90; k++) {
                into[k] = inOut[k * 7 + n];
              }
            },
            config);
    for (int n = 0; n < 7; n++) {
      for (int g = 0; g < whole.groupCount(); g++) {
        assertEquals(whole.scale(n, g), rows.scale(n, g), 0.0);
      }
      for (int k = 0; k < 90; k++) {
        assertEquals(whole.code(n, k), rows.code(n, k), "code " + n + "," + k);
      }
    }
  }

  @Test
  void rtnHonoursGroupsAndErrorBound() {
    double[][] w = QuantTestData.gaussian(6, 100, 3);
    QuantizedWeight q = RtnQuantizer.quantize(w, QuantConfig.asymmetric(4, 32));
    assertEquals(4, q.groupCount());
    double[][] d = q.dequantize();
    for (int n = 0; n < 6; n++) {
      for (int k = 0; k < 100; k++) {
        double s = q.scale(n, q.groupOf(k));
        assertTrue(Math.abs(d[n][k] - w[n][k]) <= s / 2 + 1e-12, "error within half a step");
        assertTrue(q.code(n, k) >= 0 && q.code(n, k) <= 15);
      }
    }
    // the last group (columns 96..99) has its own grid
    double max = 0;
    for (int k = 96; k < 100; k++) {
      max = Math.max(max, w[0][k]);
    }
    double min = 0;
    for (int k = 96; k < 100; k++) {
      min = Math.min(min, w[0][k]);
    }
    assertEquals((max - min) / 15, q.scale(0, 3), 1e-15);
  }
}
