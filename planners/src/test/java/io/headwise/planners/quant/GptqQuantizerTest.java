package io.headwise.planners.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.headwise.schemas.HeadwiseException;
import java.util.Arrays;
import org.ejml.data.DMatrixRMaj;
import org.ejml.dense.row.CommonOps_DDRM;
import org.ejml.dense.row.factory.DecompositionFactory_DDRM;
import org.ejml.interfaces.decomposition.CholeskyDecomposition_F64;
import org.junit.jupiter.api.Test;

class GptqQuantizerTest {

  private static final GptqOptions OPTIONS = GptqOptions.defaults();

  @Test
  void upperFactorEqualsCholeskyOfTheDampedInverse() {
    int k = 150;
    double[][] h = QuantTestData.hessian(k, 400, 11);
    double[][] u = GptqQuantizer.upperCholeskyOfDampedInverse("t", h, OPTIONS);
    double[][] expected = referenceUpperFactor(h, 0.01, 1);
    for (int i = 0; i < k; i++) {
      for (int j = 0; j < k; j++) {
        assertEquals(
            expected[i][j],
            u[i][j],
            1e-10 * Math.abs(expected[i][i]) + 1e-12,
            "U(" + i + "," + j + ")");
      }
    }
  }

  @Test
  void matchesAStraightforwardColumnByColumnReference() {
    int k = 300;
    int n = 40;
    double[][] h = QuantTestData.hessian(k, 600, 5);
    double[][] w = QuantTestData.gaussian(n, k, 6);
    for (QuantConfig config :
        new QuantConfig[] {
          QuantConfig.asymmetric(4, 64), QuantConfig.symmetric(3, -1), QuantConfig.asymmetric(8, 32)
        }) {
      GptqResult fast = GptqQuantizer.quantize("layer", w, h, config, OPTIONS);
      Reference ref = referenceGptq(w, h, config);
      int mismatches = 0;
      for (int r = 0; r < n; r++) {
        for (int c = 0; c < k; c++) {
          if (fast.weight().code(r, c) != ref.codes[r][c]) {
            mismatches++;
          }
        }
      }
      assertEquals(0, mismatches, "codes differ from the reference for " + config);
      assertEquals(ref.loss, fast.loss(), 1e-9 * ref.loss, "loss for " + config);
      assertEquals(1, fast.dampAttempts());
    }
  }

  @Test
  void actOrderMatchesThePermutedReference() {
    int k = 160;
    int n = 24;
    double[][] h = QuantTestData.hessian(k, 500, 15);
    double[][] w = QuantTestData.gaussian(n, k, 16);
    QuantConfig config = QuantConfig.asymmetric(4, 32);
    GptqResult fast = GptqQuantizer.quantize("layer", w, h, config, OPTIONS.withActOrder(true));
    Integer[] order = new Integer[k];
    for (int i = 0; i < k; i++) {
      order[i] = i;
    }
    Arrays.sort(order, (a, b) -> Double.compare(h[b][b], h[a][a]));
    double[][] hp = new double[k][k];
    double[][] wp = new double[n][k];
    for (int i = 0; i < k; i++) {
      for (int j = 0; j < k; j++) {
        hp[i][j] = h[order[i]][order[j]];
      }
      for (int r = 0; r < n; r++) {
        wp[r][i] = w[r][order[i]];
      }
    }
    QuantizedWeight grid = RtnQuantizer.quantize(w, config); // static groups in the original order
    int[] groupOfPermuted = new int[k];
    for (int i = 0; i < k; i++) {
      groupOfPermuted[i] = grid.groupOf(order[i]);
    }
    Reference ref = referenceGptq(wp, hp, grid, groupOfPermuted);
    for (int r = 0; r < n; r++) {
      for (int i = 0; i < k; i++) {
        assertEquals(
            ref.codes[r][i], fast.weight().code(r, order[i]), "code (" + r + ", " + order[i] + ")");
      }
    }
    assertEquals(ref.loss, fast.loss(), 1e-9 * ref.loss);
  }

  @Test
  void blockSizeDoesNotChangeTheResult() {
    int k = 200;
    double[][] h = QuantTestData.hessian(k, 500, 8);
    double[][] w = QuantTestData.gaussian(30, k, 9);
    QuantConfig config = QuantConfig.asymmetric(4, 32);
    GptqResult lazy =
        GptqQuantizer.quantize("l", w, h, config, new GptqOptions(16, 0.01, 1, false));
    GptqResult eager =
        GptqQuantizer.quantize("l", w, h, config, new GptqOptions(k, 0.01, 1, false));
    assertEquals(eager.loss(), lazy.loss(), 1e-9 * eager.loss());
    int same = 0;
    for (int r = 0; r < 30; r++) {
      for (int c = 0; c < k; c++) {
        same += lazy.weight().code(r, c) == eager.weight().code(r, c) ? 1 : 0;
      }
    }
    assertEquals(30 * k, same);
  }

  @Test
  void beatsRoundToNearestOnTheHessianWeightedError() {
    int k = 256;
    double[][] h = QuantTestData.hessian(k, 700, 21);
    double[][] w = QuantTestData.gaussian(64, k, 22);
    for (QuantConfig config :
        new QuantConfig[] {
          QuantConfig.asymmetric(4, 128),
          QuantConfig.symmetric(4, -1),
          QuantConfig.asymmetric(3, 32),
          QuantConfig.rsqDefault(3)
        }) {
      for (boolean actOrder : new boolean[] {false, true}) {
        GptqResult gptq = GptqQuantizer.quantize("l", w, h, config, OPTIONS.withActOrder(actOrder));
        QuantizedWeight rtn = RtnQuantizer.quantize(w, config);
        double gptqError = QuantTestData.hessianWeightedError(w, gptq.dequantized(), h);
        double rtnError = QuantTestData.hessianWeightedError(w, rtn.dequantize(), h);
        assertTrue(
            gptqError < 0.8 * rtnError,
            config + " actOrder=" + actOrder + ": GPTQ " + gptqError + " vs RTN " + rtnError);
      }
    }
  }

  @Test
  void identityHessianGivesRoundToNearest() {
    int k = 96;
    double[][] w = QuantTestData.gaussian(20, k, 31);
    for (QuantConfig config :
        new QuantConfig[] {
          QuantConfig.asymmetric(4, 32), QuantConfig.symmetric(8, -1), QuantConfig.rsqDefault(3)
        }) {
      GptqResult gptq = GptqQuantizer.quantize("l", w, QuantTestData.identity(k), config, OPTIONS);
      QuantizedWeight rtn = RtnQuantizer.quantize(w, config);
      for (int r = 0; r < 20; r++) {
        for (int c = 0; c < k; c++) {
          assertEquals(rtn.code(r, c), gptq.weight().code(r, c));
        }
        for (int g = 0; g < rtn.groupCount(); g++) {
          assertEquals(rtn.scale(r, g), gptq.weight().scale(r, g));
          assertEquals(rtn.zero(r, g), gptq.weight().zero(r, g));
        }
      }
      assertEquals(0.01, gptq.damping(), 1e-15);
    }
  }

  @Test
  void deadInputsAreZeroed() {
    int k = 64;
    double[][] h = QuantTestData.hessian(k, 300, 41);
    for (int j : new int[] {3, 40}) {
      for (int i = 0; i < k; i++) {
        h[i][j] = 0;
        h[j][i] = 0;
      }
    }
    double[][] w = QuantTestData.gaussian(8, k, 42);
    GptqResult r = GptqQuantizer.quantize("l", w, h, QuantConfig.asymmetric(4, 32), OPTIONS);
    assertEquals(2, r.deadInputs());
    double[][] q = r.dequantized();
    for (int n = 0; n < 8; n++) {
      assertEquals(0.0, q[n][3]);
      assertEquals(0.0, q[n][40]);
    }
    assertEquals(8.0, w[0].length / 8.0); // input untouched (shape)
    assertTrue(w[0][3] != 0, "the caller's weights are not modified");
  }

  @Test
  void singularHessianIsRegularisedByOneDamping() {
    int k = 32;
    double[] v = new double[k];
    for (int i = 0; i < k; i++) {
      v[i] = 1 + i % 5;
    }
    double[][] h = new double[k][k];
    double mean = 0;
    for (int i = 0; i < k; i++) {
      for (int j = 0; j < k; j++) {
        h[i][j] = v[i] * v[j];
      }
      mean += h[i][i] / k;
    }
    GptqResult r =
        GptqQuantizer.quantize(
            "rank1", QuantTestData.gaussian(4, k, 1), h, QuantConfig.asymmetric(4, 16), OPTIONS);
    assertEquals(1, r.dampAttempts());
    assertEquals(0.01 * mean, r.damping(), 1e-12);
  }

  @Test
  void indefiniteHessianRetriesWithMoreDamping() {
    int k = 8;
    double[][] h = QuantTestData.identity(k);
    h[0][0] = -0.03; // mean diag = 6.97/8, λ = 0.0087125: needs 4·λ > 0.03
    GptqResult r =
        GptqQuantizer.quantize(
            "indefinite",
            QuantTestData.gaussian(3, k, 2),
            h,
            QuantConfig.asymmetric(4, -1),
            OPTIONS);
    assertEquals(4, r.dampAttempts());
    assertEquals(4 * 0.01 * 6.97 / 8, r.damping(), 1e-12);
    double[][] u = referenceUpperFactor(h, 0.01, 4);
    assertArrayEquals(
        u[0], GptqQuantizer.upperCholeskyOfDampedInverse("indefinite", h, OPTIONS)[0], 1e-9);
  }

  @Test
  void hopelessHessianFailsNamingTheLayer() {
    double[][] h = QuantTestData.identity(8);
    h[5][5] = -100;
    HeadwiseException e =
        assertThrows(
            HeadwiseException.class,
            () ->
                GptqQuantizer.quantize(
                    "model.layers.3.mlp.down_proj",
                    QuantTestData.gaussian(3, 8, 2),
                    h,
                    QuantConfig.asymmetric(4, -1),
                    OPTIONS));
    assertTrue(e.getMessage().contains("model.layers.3.mlp.down_proj"), e.getMessage());
    assertTrue(e.getMessage().contains("49"), e.getMessage());
  }

  @Test
  void nonFiniteInputsAreRejected() {
    double[][] h = QuantTestData.identity(4);
    double[][] w = QuantTestData.gaussian(2, 4, 1);
    w[1][2] = Double.NaN;
    assertThrows(
        HeadwiseException.class,
        () -> GptqQuantizer.quantize("nan", w, h, QuantConfig.asymmetric(4, -1)));
  }

  // ----- references written the obvious way -----

  private record Reference(int[][] codes, double loss) {}

  /** Textbook GPTQ without blocks: quantize column i, push its error onto every later column. */
  private static Reference referenceGptq(double[][] w0, double[][] h, QuantConfig config) {
    QuantizedWeight grid = RtnQuantizer.quantize(w0, config); // static groups = RTN's grid
    int[] groups = new int[h.length];
    for (int i = 0; i < groups.length; i++) {
      groups[i] = grid.groupOf(i);
    }
    return referenceGptq(w0, h, grid, groups);
  }

  /**
   * The same with the grid taken from {@code grid} and column i using group {@code
   * groupOfColumn[i]}.
   */
  private static Reference referenceGptq(
      double[][] w0, double[][] h, QuantizedWeight grid, int[] groupOfColumn) {
    QuantConfig config = grid.config();
    int n = w0.length;
    int k = h.length;
    double[][] w = new double[n][];
    for (int r = 0; r < n; r++) {
      w[r] = w0[r].clone();
    }
    double[][] u = referenceUpperFactor(h, 0.01, 1);
    int[][] codes = new int[n][k];
    double loss = 0;
    for (int i = 0; i < k; i++) {
      int g = groupOfColumn[i];
      for (int r = 0; r < n; r++) {
        double s = grid.scale(r, g);
        int z = grid.zero(r, g);
        int c = QuantGrid.code(w[r][i], s, z, config.maxCode());
        codes[r][i] = c;
        double e = (w[r][i] - QuantGrid.dequantize(c, s, z)) / u[i][i];
        loss += e * e / 2;
        for (int j = i + 1; j < k; j++) {
          w[r][j] -= e * u[i][j];
        }
      }
    }
    return new Reference(codes, loss);
  }

  /** {@code upperCholesky(inverse(H + m·λ·I))} via EJML's plain inverse and Cholesky. */
  static double[][] referenceUpperFactor(double[][] h, double percentDamp, int multiple) {
    int k = h.length;
    DMatrixRMaj a = new DMatrixRMaj(h);
    double mean = 0;
    for (int i = 0; i < k; i++) {
      mean += (h[i][i] == 0 ? 1 : h[i][i]) / k;
    }
    for (int i = 0; i < k; i++) {
      if (h[i][i] == 0) {
        a.set(i, i, 1);
      }
      a.add(i, i, multiple * percentDamp * mean);
    }
    DMatrixRMaj inv = new DMatrixRMaj(k, k);
    assertTrue(CommonOps_DDRM.invert(a, inv));
    CholeskyDecomposition_F64<DMatrixRMaj> chol = DecompositionFactory_DDRM.chol(k, false);
    assertTrue(chol.decompose(inv));
    DMatrixRMaj u = chol.getT(null);
    double[][] out = new double[k][k];
    for (int i = 0; i < k; i++) {
      for (int j = i; j < k; j++) {
        out[i][j] = u.get(i, j);
      }
    }
    return out;
  }
}
