package io.headwise.planners.quant;

import java.util.Optional;
import java.util.SplittableRandom;
import java.util.stream.IntStream;
import org.ejml.data.DMatrixRMaj;
import org.ejml.dense.row.CommonOps_MT_DDRM;
import org.ejml.dense.row.factory.DecompositionFactory_MT_DDRM;
import org.ejml.interfaces.decomposition.QRDecomposition;

/**
 * Rotations for RSQ's "rotate" step (QuaRot-style) and the helpers that fuse them into weights.
 *
 * <p>Orientation matters and is in every helper's name:
 *
 * <ul>
 *   <li><b>Torch</b> orientation: {@code W [N_out][K]}, {@code y = x·Wᵀ} (a PyTorch {@code Linear},
 *       and the orientation {@link GptqQuantizer} takes);
 *   <li><b>ONNX</b> orientation: a MatMul initializer {@code B [K][N]}, {@code y = x·B}.
 * </ul>
 *
 * For a residual stream rotated as {@code x' = x·Q}: a layer reading it needs {@code W·Q} (Torch) =
 * {@code Qᵀ·B} (ONNX); a layer writing to it needs {@code Qᵀ·W} (Torch) = {@code B·Q} (ONNX) and
 * its bias {@code Qᵀ·b}; an embedding table {@code [vocab][hidden]} becomes {@code E·Q} ({@link
 * #multiply}).
 *
 * <p>Every helper exists for a dense {@code double[][] q} (EJML GEMM, O(n³)) and for a {@link
 * Rotation}; with a Hadamard rotation the latter applies {@code diag(±1)·(H_K ⊗ H_{2^m})/√n} as a
 * fast Walsh–Hadamard transform plus a dense {@code K × K} step, {@code O(n·(log n + K))} per
 * vector, which is what makes rotating 4096- or 14336-wide layers practical. All arithmetic is in
 * double; inputs are not modified.
 */
public final class Rotations {

  private Rotations() {}

  /**
   * A seeded orthogonal matrix of order {@code n}: a random Hadamard {@code diag(±1)·H/√n} when a
   * Sylvester/Paley construction of order {@code n} exists ({@link Hadamard#factor}), otherwise a
   * Haar-random orthogonal matrix from the QR decomposition of a Gaussian matrix (EJML). The random
   * streams are Java's {@link SplittableRandom}, so the matrix differs from QuaRot's torch-seeded
   * one for the same seed (any such matrix is equally valid).
   */
  public static Rotation orthogonal(int n, long seed) {
    Optional<Hadamard.Factorization> f = Hadamard.factor(n);
    if (f.isPresent()) {
      return new Rotation(randomHadamard(f.get(), seed), constructionOf(f.get()), f, seed);
    }
    return new Rotation(
        randomOrthogonal(n, seed), Rotation.Construction.RANDOM_ORTHOGONAL, Optional.empty(), seed);
  }

  /** {@code diag(s)·H/√n} with random signs {@code s} drawn from {@code seed}. */
  public static double[][] randomHadamard(Hadamard.Factorization f, long seed) {
    double[][] h = Hadamard.matrix(f);
    int n = h.length;
    double scale = 1 / Math.sqrt(n);
    SplittableRandom random = new SplittableRandom(seed);
    for (double[] row : h) {
      double s = random.nextBoolean() ? scale : -scale;
      for (int j = 0; j < n; j++) {
        row[j] *= s;
      }
    }
    return h;
  }

  /**
   * A Haar-random orthogonal matrix: {@code Q·diag(sign(diag R))} for the QR decomposition of an
   * {@code n × n} standard Gaussian matrix drawn from {@code seed}. Cost O(n³).
   */
  public static double[][] randomOrthogonal(int n, long seed) {
    SplittableRandom random = new SplittableRandom(seed);
    DMatrixRMaj a = new DMatrixRMaj(n, n);
    for (int i = 0; i < a.data.length; i++) {
      a.data[i] = random.nextGaussian();
    }
    QRDecomposition<DMatrixRMaj> qr = DecompositionFactory_MT_DDRM.qr(n, n);
    if (!qr.decompose(a)) {
      throw new IllegalStateException("QR decomposition of a Gaussian matrix failed");
    }
    DMatrixRMaj q = qr.getQ(null, false);
    DMatrixRMaj r = qr.getR(null, false);
    double[][] out = new double[n][n];
    for (int j = 0; j < n; j++) {
      double sign = r.get(j, j) < 0 ? -1 : 1;
      for (int i = 0; i < n; i++) {
        out[i][j] = sign * q.get(i, j);
      }
    }
    return out;
  }

  /**
   * Torch orientation, layer reading the rotated stream: {@code W·Q} for {@code W [N_out][K]},
   * {@code Q [K][K]}.
   */
  public static double[][] fuseInputRotationTorch(double[][] weightOutIn, double[][] q) {
    return multiply(weightOutIn, q);
  }

  /**
   * Torch orientation, layer writing the rotated stream: {@code Qᵀ·W} for {@code W [N_out][K]},
   * {@code Q [N_out][N_out]}.
   */
  public static double[][] fuseOutputRotationTorch(double[][] weightOutIn, double[][] q) {
    return multiplyTransposedLeft(q, weightOutIn);
  }

  /**
   * ONNX orientation, layer reading the rotated stream: {@code Qᵀ·B} for {@code B [K][N]}, {@code Q
   * [K][K]}.
   */
  public static double[][] fuseInputRotationOnnx(double[][] initializerInOut, double[][] q) {
    return multiplyTransposedLeft(q, initializerInOut);
  }

  /**
   * ONNX orientation, layer writing the rotated stream: {@code B·Q} for {@code B [K][N]}, {@code Q
   * [N][N]}.
   */
  public static double[][] fuseOutputRotationOnnx(double[][] initializerInOut, double[][] q) {
    return multiply(initializerInOut, q);
  }

  /**
   * {@link #fuseInputRotationTorch(double[][], double[][])} with the fast path for Hadamard
   * rotations.
   */
  public static double[][] fuseInputRotationTorch(double[][] weightOutIn, Rotation q) {
    return multiplyRows(weightOutIn, q);
  }

  /**
   * {@link #fuseOutputRotationTorch(double[][], double[][])} with the fast path for Hadamard
   * rotations.
   */
  public static double[][] fuseOutputRotationTorch(double[][] weightOutIn, Rotation q) {
    return multiplyTransposedLeft(q, weightOutIn);
  }

  /**
   * {@link #fuseInputRotationOnnx(double[][], double[][])} with the fast path for Hadamard
   * rotations.
   */
  public static double[][] fuseInputRotationOnnx(double[][] initializerInOut, Rotation q) {
    return multiplyTransposedLeft(q, initializerInOut);
  }

  /**
   * {@link #fuseOutputRotationOnnx(double[][], double[][])} with the fast path for Hadamard
   * rotations.
   */
  public static double[][] fuseOutputRotationOnnx(double[][] initializerInOut, Rotation q) {
    return multiplyRows(initializerInOut, q);
  }

  /** {@link #rotateBias(double[], double[][])} for a {@link Rotation}. */
  public static double[] rotateBias(double[] bias, Rotation q) {
    return multiplyRows(new double[][] {bias}, q)[0];
  }

  /**
   * {@code a·Q}: every row {@code x} (length n) becomes {@code x·Q}. Also the embedding-table
   * rotation ({@code [vocab][hidden]·Q}).
   */
  public static double[][] multiplyRows(double[][] a, Rotation q) {
    if (!q.isHadamard()) {
      return multiply(a, q.matrix());
    }
    checkInner(a[0].length, q.size());
    FastHadamard fast = new FastHadamard(q);
    double[][] out = new double[a.length][];
    IntStream.range(0, a.length)
        .parallel()
        .forEach(
            i -> {
              double[] row = a[i].clone();
              fast.applyRight(row);
              out[i] = row;
            });
    return out;
  }

  /** {@code Qᵀ·a}: every column {@code c} (length n) of {@code a} becomes {@code Qᵀ·c}. */
  public static double[][] multiplyTransposedLeft(Rotation q, double[][] a) {
    if (!q.isHadamard()) {
      return multiplyTransposedLeft(q.matrix(), a);
    }
    int n = q.size();
    checkInner(n, a.length);
    int cols = a[0].length;
    FastHadamard fast = new FastHadamard(q);
    double[][] out = new double[n][cols];
    IntStream.range(0, cols)
        .parallel()
        .forEach(
            j -> {
              double[] column = new double[n];
              for (int i = 0; i < n; i++) {
                column[i] = a[i][j];
              }
              fast.applyRight(column); // (Qᵀ·c)ᵀ = cᵀ·Q
              for (int i = 0; i < n; i++) {
                out[i][j] = column[i];
              }
            });
    return out;
  }

  /** Bias of a layer writing the rotated stream: {@code Qᵀ·b} (as a row vector, {@code b·Q}). */
  public static double[] rotateBias(double[] bias, double[][] q) {
    int n = bias.length;
    if (q.length != n) {
      throw new IllegalArgumentException(
          "bias has " + n + " entries, rotation is " + q.length + "x" + q.length);
    }
    double[] out = new double[n];
    for (int i = 0; i < n; i++) {
      double b = bias[i];
      double[] row = q[i];
      for (int j = 0; j < n; j++) {
        out[j] += b * row[j];
      }
    }
    return out;
  }

  /**
   * {@code copies} copies of {@code block} on the diagonal (e.g. the per-head Hadamard on v_proj's
   * output).
   */
  public static double[][] blockDiagonal(double[][] block, int copies) {
    int b = block.length;
    double[][] out = new double[b * copies][b * copies];
    for (int c = 0; c < copies; c++) {
      for (int i = 0; i < b; i++) {
        System.arraycopy(block[i], 0, out[c * b + i], c * b, b);
      }
    }
    return out;
  }

  /** {@code a·b} (EJML, multi-threaded). */
  public static double[][] multiply(double[][] a, double[][] b) {
    checkInner(a[0].length, b.length);
    DMatrixRMaj out = new DMatrixRMaj(a.length, b[0].length);
    CommonOps_MT_DDRM.mult(new DMatrixRMaj(a), new DMatrixRMaj(b), out);
    return toArray(out);
  }

  /** {@code aᵀ·b} (EJML, multi-threaded). */
  public static double[][] multiplyTransposedLeft(double[][] a, double[][] b) {
    checkInner(a.length, b.length);
    DMatrixRMaj at = CommonOps_MT_DDRM.transpose(new DMatrixRMaj(a), null);
    DMatrixRMaj out = new DMatrixRMaj(at.numRows, b[0].length);
    CommonOps_MT_DDRM.mult(at, new DMatrixRMaj(b), out);
    return toArray(out);
  }

  /** Largest {@code |(Q·Qᵀ − I)_ij|}: how far {@code q} is from orthogonal. */
  public static double orthogonalityError(double[][] q) {
    DMatrixRMaj m = new DMatrixRMaj(q);
    DMatrixRMaj p = new DMatrixRMaj(m.numRows, m.numRows);
    CommonOps_MT_DDRM.multTransB(m, m, p);
    double worst = 0;
    for (int i = 0; i < p.numRows; i++) {
      for (int j = 0; j < p.numCols; j++) {
        worst = Math.max(worst, Math.abs(p.get(i, j) - (i == j ? 1 : 0)));
      }
    }
    return worst;
  }

  /**
   * {@code x ↦ x·Q} for {@code Q = diag(s)·(H_K ⊗ H_P)/√n}: scale by the signs, Walsh–Hadamard
   * transform each length-P segment ({@code H_P} is symmetric), mix the K segments with {@code
   * H_K}, divide by √n.
   */
  private static final class FastHadamard {
    private final int n;
    private final int segment;
    private final int baseOrder;
    private final double[] signs;
    private final double[][] base;
    private final double scale;

    FastHadamard(Rotation q) {
      Hadamard.Factorization f = q.factorization().orElseThrow();
      this.n = f.order();
      this.baseOrder = f.baseOrder();
      this.segment = f.powerOfTwo();
      this.base = Hadamard.base(f);
      this.scale = 1 / Math.sqrt(n);
      // Q[i][0] = s_i · M[i][0] / √n and M[i][0] = H_K[i / P][0] (Sylvester's first column is all
      // ones).
      this.signs = new double[n];
      double[][] m = q.matrix();
      for (int i = 0; i < n; i++) {
        signs[i] = Math.signum(m[i][0]) * base[i / segment][0];
      }
    }

    void applyRight(double[] x) {
      for (int i = 0; i < n; i++) {
        x[i] *= signs[i];
      }
      for (int start = 0; start < n; start += segment) {
        for (int h = 1; h < segment; h <<= 1) {
          for (int i = start; i < start + segment; i += 2 * h) {
            for (int j = i; j < i + h; j++) {
              double a = x[j];
              double b = x[j + h];
              x[j] = a + b;
              x[j + h] = a - b;
            }
          }
        }
      }
      if (baseOrder > 1) {
        double[] t = x.clone();
        for (int b = 0; b < baseOrder; b++) {
          for (int p = 0; p < segment; p++) {
            double sum = 0;
            for (int a = 0; a < baseOrder; a++) {
              sum += base[a][b] * t[a * segment + p];
            }
            x[b * segment + p] = sum;
          }
        }
      }
      for (int i = 0; i < n; i++) {
        x[i] *= scale;
      }
    }
  }

  private static Rotation.Construction constructionOf(Hadamard.Factorization f) {
    switch (f.base()) {
      case SYLVESTER:
        return Rotation.Construction.RANDOM_HADAMARD_SYLVESTER;
      case PALEY_I:
        return Rotation.Construction.RANDOM_HADAMARD_PALEY_I;
      case PALEY_II:
        return Rotation.Construction.RANDOM_HADAMARD_PALEY_II;
      default:
        throw new IllegalStateException(f.base().toString());
    }
  }

  private static void checkInner(int left, int right) {
    if (left != right) {
      throw new IllegalArgumentException("inner dimensions differ: " + left + " vs " + right);
    }
  }

  private static double[][] toArray(DMatrixRMaj m) {
    double[][] out = new double[m.numRows][m.numCols];
    for (int i = 0; i < m.numRows; i++) {
      System.arraycopy(m.data, i * m.numCols, out[i], 0, m.numCols);
    }
    return out;
  }
}
