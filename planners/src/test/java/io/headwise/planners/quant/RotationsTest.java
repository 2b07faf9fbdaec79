package io.headwise.planners.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class RotationsTest {

  @Test
  void sylvesterAndPaleyMatricesAreHadamard() {
    assertHadamard(Hadamard.sylvester(1));
    assertHadamard(Hadamard.sylvester(64));
    for (int q : new int[] {3, 7, 11, 19, 23, 59, 107, 139}) {
      double[][] h = Hadamard.paleyI(q);
      assertEquals(q + 1, h.length);
      assertHadamard(h);
    }
    for (int q : new int[] {5, 13, 17, 29, 37, 73}) {
      double[][] h = Hadamard.paleyII(q);
      assertEquals(2 * (q + 1), h.length);
      assertHadamard(h);
    }
    assertThrows(IllegalArgumentException.class, () -> Hadamard.paleyI(13));
    assertThrows(IllegalArgumentException.class, () -> Hadamard.paleyII(15));
  }

  @Test
  void factorsTheOrdersTransformersUse() {
    assertFactor(4096, 1, 12, Hadamard.Base.SYLVESTER);
    assertFactor(14336, 28, 9, Hadamard.Base.PALEY_II); // LLaMA-3 intermediate
    assertFactor(3584, 28, 7, Hadamard.Base.PALEY_II); // Qwen2.5-7B hidden
    assertFactor(18944, 148, 7, Hadamard.Base.PALEY_II); // Qwen2.5-7B intermediate
    assertFactor(5120, 20, 8, Hadamard.Base.PALEY_I);
    assertFactor(1536, 12, 7, Hadamard.Base.PALEY_I);
    assertFactor(8960, 140, 6, Hadamard.Base.PALEY_I);
    assertFactor(11008, 5504, 1, Hadamard.Base.PALEY_I); // 172 needs a table; 5503 is prime
    assertTrue(Hadamard.factor(156).isEmpty());
    assertTrue(Hadamard.factor(100).isEmpty());
    assertTrue(Hadamard.factor(6).isEmpty());
  }

  @Test
  void kroneckerConstructionIsHadamard() {
    for (int n : new int[] {24, 28 * 4, 36 * 2, 48, 12 * 16}) {
      double[][] h = Hadamard.matrix(n);
      assertEquals(n, h.length);
      assertHadamard(h);
    }
  }

  @Test
  void orthogonalPicksAConstructionAndIsOrthogonal() {
    Rotation sylvester = Rotations.orthogonal(64, 1);
    assertEquals(Rotation.Construction.RANDOM_HADAMARD_SYLVESTER, sylvester.construction());
    Rotation paley = Rotations.orthogonal(28 * 8, 2);
    assertEquals(Rotation.Construction.RANDOM_HADAMARD_PALEY_II, paley.construction());
    Rotation paleyI = Rotations.orthogonal(20 * 4, 2);
    assertEquals(Rotation.Construction.RANDOM_HADAMARD_PALEY_I, paleyI.construction());
    Rotation random = Rotations.orthogonal(100, 3);
    assertEquals(Rotation.Construction.RANDOM_ORTHOGONAL, random.construction());
    assertFalse(random.isHadamard());
    assertEquals(Optional.empty(), random.factorization());
    for (Rotation r : new Rotation[] {sylvester, paley, paleyI, random}) {
      assertTrue(
          Rotations.orthogonalityError(r.matrix()) < 1e-12, r.construction() + " not orthogonal");
    }
    // Hadamard rotations have entries ±1/√n
    for (double[] row : paley.matrix()) {
      for (double v : row) {
        assertEquals(1 / Math.sqrt(224), Math.abs(v), 1e-15);
      }
    }
    // seeded
    assertArrayEquals(Rotations.orthogonal(100, 3).matrix()[7], random.matrix()[7]);
    assertFalse(
        Arrays.equals(Rotations.orthogonal(64, 9).matrix()[0], sylvester.matrix()[0])
            && Arrays.equals(Rotations.orthogonal(64, 9).matrix()[1], sylvester.matrix()[1])
            && Arrays.equals(Rotations.orthogonal(64, 9).matrix()[2], sylvester.matrix()[2]));
  }

  @Test
  void fusedRotationsLeaveLayerOutputsUnchanged() {
    int k = 48;
    int n = 20;
    double[][] q = Rotations.orthogonal(k, 5).matrix();
    double[][] qOut = Rotations.orthogonal(n, 6).matrix();
    double[][] x = QuantTestData.gaussian(3, k, 7);
    double[][] w = QuantTestData.gaussian(n, k, 8); // Torch [N][K]
    double[][] b = transpose(w); // ONNX [K][N]
    double[] bias = QuantTestData.gaussian(1, n, 9)[0];
    double[][] y = Rotations.multiply(x, b); // x·Wᵀ = x·B
    double[][] xRot = Rotations.multiply(x, q); // rotated input stream

    // reading the rotated stream
    assertClose(y, Rotations.multiply(xRot, transpose(Rotations.fuseInputRotationTorch(w, q))));
    assertClose(y, Rotations.multiply(xRot, Rotations.fuseInputRotationOnnx(b, q)));

    // writing a rotated stream: outputs become y·Q
    double[][] yRot = Rotations.multiply(y, qOut);
    assertClose(yRot, Rotations.multiply(x, transpose(Rotations.fuseOutputRotationTorch(w, qOut))));
    assertClose(yRot, Rotations.multiply(x, Rotations.fuseOutputRotationOnnx(b, qOut)));

    // bias: (y + b)·Q = y·Q + Qᵀb
    double[] rotatedBias = Rotations.rotateBias(bias, qOut);
    double[][] withBias = Rotations.multiply(new double[][] {bias}, qOut);
    assertArrayEquals(withBias[0], rotatedBias, 1e-12);
  }

  @Test
  void fastHadamardPathEqualsDenseMultiplication() {
    for (int n : new int[] {64, 12 * 4, 28 * 2, 20, 36 * 8}) {
      Rotation q = Rotations.orthogonal(n, n);
      assertTrue(q.isHadamard());
      double[][] a = QuantTestData.gaussian(7, n, 3);
      double[][] b = QuantTestData.gaussian(n, 5, 4);
      assertClose(Rotations.multiply(a, q.matrix()), Rotations.multiplyRows(a, q));
      assertClose(
          Rotations.multiplyTransposedLeft(q.matrix(), b), Rotations.multiplyTransposedLeft(q, b));
      assertClose(
          Rotations.fuseInputRotationTorch(a, q.matrix()), Rotations.fuseInputRotationTorch(a, q));
      assertClose(
          Rotations.fuseOutputRotationOnnx(a, q.matrix()), Rotations.fuseOutputRotationOnnx(a, q));
      assertClose(
          Rotations.fuseInputRotationOnnx(b, q.matrix()), Rotations.fuseInputRotationOnnx(b, q));
      assertClose(
          Rotations.fuseOutputRotationTorch(b, q.matrix()),
          Rotations.fuseOutputRotationTorch(b, q));
      assertArrayEquals(
          Rotations.rotateBias(a[0], q.matrix()), Rotations.rotateBias(a[0], q), 1e-12);
    }
    Rotation random = Rotations.orthogonal(30, 1);
    double[][] a = QuantTestData.gaussian(3, 30, 3);
    assertClose(Rotations.multiply(a, random.matrix()), Rotations.multiplyRows(a, random));
  }

  @Test
  void blockDiagonalRepeatsTheBlock() {
    double[][] h = Hadamard.normalized(4);
    double[][] d = Rotations.blockDiagonal(h, 3);
    assertEquals(12, d.length);
    assertEquals(h[1][2], d[5][6]);
    assertEquals(0.0, d[0][4]);
    assertTrue(Rotations.orthogonalityError(d) < 1e-15);
  }

  private static void assertFactor(int n, int base, int log2, Hadamard.Base kind) {
    Hadamard.Factorization f = Hadamard.factor(n).orElseThrow();
    assertEquals(new Hadamard.Factorization(n, base, log2, kind), f, "factor of " + n);
    assertEquals(n, f.baseOrder() * f.powerOfTwo());
  }

  private static void assertHadamard(double[][] h) {
    int n = h.length;
    for (int i = 0; i < n; i++) {
      for (double v : h[i]) {
        assertEquals(1.0, Math.abs(v));
      }
      for (int j = 0; j < n; j++) {
        double dot = 0;
        for (int c = 0; c < n; c++) {
          dot += h[i][c] * h[j][c];
        }
        assertEquals(i == j ? n : 0, dot, 0.0, "rows " + i + "," + j + " of order " + n);
      }
    }
  }

  static double[][] transpose(double[][] a) {
    double[][] t = new double[a[0].length][a.length];
    for (int i = 0; i < a.length; i++) {
      for (int j = 0; j < a[0].length; j++) {
        t[j][i] = a[i][j];
      }
    }
    return t;
  }

  private static void assertClose(double[][] expected, double[][] actual) {
    assertEquals(expected.length, actual.length);
    for (int i = 0; i < expected.length; i++) {
      assertArrayEquals(expected[i], actual[i], 1e-11);
    }
  }
}
