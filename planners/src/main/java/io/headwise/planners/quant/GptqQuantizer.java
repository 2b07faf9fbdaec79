package io.headwise.planners.quant;

import io.headwise.schemas.HeadwiseException;
import java.util.Arrays;
import java.util.stream.IntStream;
import org.ejml.EjmlParameters;
import org.ejml.data.DGrowArray;
import org.ejml.data.DMatrixRBlock;
import org.ejml.data.DMatrixRMaj;
import org.ejml.data.DSubmatrixD1;
import org.ejml.dense.block.TriangularSolver_DDRB;
import org.ejml.dense.block.decomposition.chol.CholeskyOuterForm_MT_DDRB;
import org.ejml.dense.row.CommonOps_MT_DDRM;
import pabeles.concurrency.GrowArray;

/**
 * GPTQ (Frantar et al., {@code IST-DASLab/gptq}; the variant inside RSQ) in double precision, with
 * static groups, optional act-order, RSQ's retry-on-failure dampening and lazy batch updates.
 *
 * <p>Algorithm, for {@code W [N_out][K]} and a symmetric Hessian {@code H [K][K]}:
 *
 * <ol>
 *   <li>dead inputs ({@code H_jj = 0}) get {@code H_jj = 1} and {@code W[:, j] = 0};
 *   <li>group scales/zero points are fitted on those (original-order) weights, per-channel grids
 *       included (RSQ fits per-channel grids before zeroing dead columns; the difference only shows
 *       on dead inputs). Groups are always static: GPTQ's "dynamic" groups, refitted on
 *       error-updated weights, are not offered;
 *   <li>{@code U = upperCholesky((H + m·λ·I)⁻¹)} with {@code λ = percentDamp · mean diag H}, {@code
 *       m = 1} and, while the factorisation fails, {@code m = 2, 3, …} up to {@code
 *       maxDampAttempts};
 *   <li>columns are quantized left to right (or by decreasing {@code H_jj} with act-order); each
 *       column's error {@code (w − q)/U_ii} is pushed onto the rest of its 128-column block at once
 *       and onto later blocks with one GEMM per block (EJML, multi-threaded). Weights are held as
 *       column blocks {@code [N][128]}, so both the per-row in-block work and the GEMM stay in
 *       cache.
 * </ol>
 *
 * <p>{@code U} is computed without forming {@code H⁻¹}: with {@code J} the reversal permutation, if
 * {@code J·H·J = L·Lᵀ} (lower Cholesky) then {@code H = V·Vᵀ} with {@code V = J·L·J} upper
 * triangular, so {@code H⁻¹ = V⁻ᵀ·V⁻¹} and, by uniqueness of the Cholesky factor, {@code U = V⁻¹ =
 * J·L⁻¹·J}. That is one Cholesky and one triangular inverse (EJML's blocked {@code
 * CholeskyOuterForm_MT_DDRB}, multi-threaded, and {@code TriangularSolver_DDRB}) instead of
 * Cholesky, inverse and a second Cholesky. The factor and its inverse share one block matrix (the
 * inverse is taken in place, single-threaded: EJML's multi-threaded inverse needs a second K×K
 * matrix).
 *
 * <p>Memory: about {@code K²} doubles for the factor plus {@code N·K} doubles of working weights
 * and {@code N·K} bytes of codes. Inputs are never modified. Row chunks run in parallel with a
 * fixed chunk size, so results do not depend on the number of cores.
 *
 * <p>One class of about 400 lines: the steps above share the column-block layout of the weights and
 * the Cholesky factor, and none has a use on its own.
 */
public final class GptqQuantizer {

  private static final int ROW_CHUNK = 256;

  private GptqQuantizer() {}

  /** GPTQ with {@link GptqOptions#defaults()}. */
  public static GptqResult quantize(
      String layerName, double[][] weightOutIn, double[][] hessian, QuantConfig config) {
    return quantize(layerName, weightOutIn, hessian, config, GptqOptions.defaults());
  }

  /**
   * Quantizes one layer.
   *
   * @param layerName used in error messages only
   * @param weightOutIn {@code [N_out][K]}, row = output channel (an ONNX MatMul initializer {@code
   *     [K, N]} must be transposed first)
   * @param hessian {@code [K][K]}, symmetric ({@code Σ w_t x_t x_tᵀ} up to a constant factor); read
   *     as {@code (H + Hᵀ)/2}
   * @throws HeadwiseException if the damped Hessian is still not positive definite after {@code
   *     maxDampAttempts} attempts, or an input is not finite
   */
  public static GptqResult quantize(
      String layerName,
      double[][] weightOutIn,
      double[][] hessian,
      QuantConfig config,
      GptqOptions options) {
    long start = System.nanoTime();
    int rows = weightOutIn.length;
    if (rows == 0) {
      throw new IllegalArgumentException("layer " + layerName + ": weight has no rows");
    }
    int k = weightOutIn[0].length;
    Math.multiplyExact(rows, k);
    for (int r = 0; r < rows; r++) {
      if (weightOutIn[r].length != k) {
        throw new IllegalArgumentException(
            "layer "
                + layerName
                + ": weight row "
                + r
                + " has "
                + weightOutIn[r].length
                + " columns, expected "
                + k);
      }
    }
    if (hessian.length != k) {
      throw new IllegalArgumentException(
          "layer "
              + layerName
              + ": Hessian is "
              + hessian.length
              + "x?, expected "
              + k
              + "x"
              + k
              + " (K = weight columns)");
    }
    for (double[] hRow : hessian) {
      if (hRow.length != k) {
        throw new IllegalArgumentException(
            "layer " + layerName + ": Hessian is not " + k + "x" + k);
      }
    }

    boolean[] dead = new boolean[k];
    double[] diag = new double[k];
    int deadCount = 0;
    for (int j = 0; j < k; j++) {
      diag[j] = hessian[j][j];
      if (!Double.isFinite(diag[j])) {
        throw new HeadwiseException(
            "layer " + layerName + ": Hessian diagonal entry " + j + " is " + diag[j]);
      }
      if (diag[j] == 0) {
        dead[j] = true;
        diag[j] = 1;
        deadCount++;
      }
    }

    int groups = config.groupCount(k);
    int groupWidth = config.groupWidth(k);
    double[] scales = new double[rows * groups];
    int[] zeros = new int[rows * groups];
    IntStream.range(0, rows)
        .parallel()
        .forEach(
            r -> {
              double[] row = weightOutIn[r].clone();
              for (int j = 0; j < k; j++) {
                if (dead[j]) {
                  row[j] = 0;
                } else if (!Double.isFinite(row[j])) {
                  throw new HeadwiseException(
                      "layer " + layerName + ": weight (" + r + ", " + j + ") is " + row[j]);
                }
              }
              for (int g = 0; g < groups; g++) {
                int from = g * groupWidth;
                GridParams p = QuantGrid.fit(row, from, Math.min(k, from + groupWidth), config);
                scales[r * groups + g] = p.scale();
                zeros[r * groups + g] = p.zero();
              }
            });

    int[] perm = options.actOrder() ? orderByDecreasing(diag) : identity(k);
    InverseFactor factor = InverseFactor.compute(layerName, hessian, diag, perm, options);

    int blockSize = options.blockSize();
    int blocks = (k + blockSize - 1) / blockSize;
    double[][] columnBlocks = new double[blocks][];
    IntStream.range(0, blocks)
        .parallel()
        .forEach(
            b -> {
              int i1 = b * blockSize;
              int count = Math.min(k, i1 + blockSize) - i1;
              double[] data = new double[rows * count];
              for (int n = 0; n < rows; n++) {
                double[] src = weightOutIn[n];
                for (int r = 0; r < count; r++) {
                  int col = perm[i1 + r];
                  data[n * count + r] = dead[col] ? 0 : src[col];
                }
              }
              columnBlocks[b] = data;
            });

    int maxCode = config.maxCode();
    byte[] codes = new byte[rows * k];
    int chunks = (rows + ROW_CHUNK - 1) / ROW_CHUNK;
    double loss = 0;
    for (int b = 0; b < blocks; b++) {
      int i1 = b * blockSize;
      int i2 = Math.min(k, i1 + blockSize);
      int count = i2 - i1;
      int width = k - i1;
      double[] u = factor.upperRows(i1, count);
      double[] w = columnBlocks[b];
      double[] err = new double[rows * count];
      int[] origOf = new int[count];
      int[] groupOf = new int[count];
      double[] diagOf = new double[count];
      for (int r = 0; r < count; r++) {
        origOf[r] = perm[i1 + r];
        groupOf[r] = origOf[r] / groupWidth;
        diagOf[r] = u[r * width + r];
      }
      double[] chunkLoss = new double[chunks];
      IntStream.range(0, chunks)
          .parallel()
          .forEach(
              ch -> {
                int lo = ch * ROW_CHUNK;
                int hi = Math.min(rows, lo + ROW_CHUNK);
                double sum = 0;
                for (int n = lo; n < hi; n++) {
                  int off = n * count;
                  int codeOff = n * k;
                  int groupOff = n * groups;
                  for (int r = 0; r < count; r++) {
                    double wv = w[off + r];
                    int gi = groupOff + groupOf[r];
                    double s = scales[gi];
                    int z = zeros[gi];
                    int c = QuantGrid.code(wv, s, z, maxCode);
                    codes[codeOff + origOf[r]] = (byte) c;
                    double e = (wv - QuantGrid.dequantize(c, s, z)) / diagOf[r];
                    sum += e * e;
                    err[off + r] = e;
                    int uOff = r * width;
                    for (int j = r + 1; j < count; j++) {
                      w[off + j] -= e * u[uOff + j];
                    }
                  }
                }
                chunkLoss[ch] = sum / 2;
              });
      for (double l : chunkLoss) {
        loss += l;
      }
      columnBlocks[b] = null;

      DMatrixRMaj errors = DMatrixRMaj.wrap(rows, count, err);
      for (int c = b + 1; c < blocks; c++) {
        int j1 = c * blockSize;
        int cb = Math.min(k, j1 + blockSize) - j1;
        DMatrixRMaj coupling = new DMatrixRMaj(count, cb);
        for (int r = 0; r < count; r++) {
          System.arraycopy(u, r * width + (j1 - i1), coupling.data, r * cb, cb);
        }
        CommonOps_MT_DDRM.multAdd(
            -1, errors, coupling, DMatrixRMaj.wrap(rows, cb, columnBlocks[c]));
      }
    }

    QuantizedWeight weight = QuantizedWeight.wrap(rows, k, config, codes, scales, zeros);
    double seconds = (System.nanoTime() - start) / 1e9;
    return new GptqResult(weight, loss, factor.damping, factor.attempts, deadCount, seconds);
  }

  /**
   * {@code upperCholesky((H' + m·λ·I)⁻¹)} as a dense matrix, for tests: {@code H'} is {@code H}
   * with zero diagonal entries set to 1, in the original column order.
   */
  static double[][] upperCholeskyOfDampedInverse(
      String layerName, double[][] hessian, GptqOptions options) {
    int k = hessian.length;
    double[] diag = new double[k];
    for (int j = 0; j < k; j++) {
      diag[j] = hessian[j][j] == 0 ? 1 : hessian[j][j];
    }
    InverseFactor f = InverseFactor.compute(layerName, hessian, diag, identity(k), options);
    double[][] u = new double[k][k];
    for (int i = 0; i < k; i++) {
      double[] rowsOfU = f.upperRows(i, 1);
      System.arraycopy(rowsOfU, 0, u[i], i, k - i);
    }
    return u;
  }

  private static int[] identity(int k) {
    int[] p = new int[k];
    for (int i = 0; i < k; i++) {
      p[i] = i;
    }
    return p;
  }

  /** Indices sorted by decreasing value; ties keep index order. */
  private static int[] orderByDecreasing(double[] values) {
    Integer[] idx = new Integer[values.length];
    for (int i = 0; i < idx.length; i++) {
      idx[i] = i;
    }
    Arrays.sort(idx, (a, b) -> Double.compare(values[b], values[a]));
    int[] out = new int[idx.length];
    for (int i = 0; i < idx.length; i++) {
      out[i] = idx[i];
    }
    return out;
  }

  /**
   * The factor {@code U} of the damped inverse Hessian in permuted order, held as {@code L⁻¹} of
   * the reversed matrix.
   */
  private static final class InverseFactor {
    final int k;
    final DMatrixRBlock lowerInverse;
    final double damping;
    final int attempts;

    private InverseFactor(int k, DMatrixRBlock lowerInverse, double damping, int attempts) {
      this.k = k;
      this.lowerInverse = lowerInverse;
      this.damping = damping;
      this.attempts = attempts;
    }

    static InverseFactor compute(
        String layerName, double[][] hessian, double[] diag, int[] perm, GptqOptions options) {
      int k = diag.length;
      double mean = 0;
      for (double d : diag) {
        mean += d;
      }
      mean /= k;
      double lambda = options.percentDamp() * mean;
      int blockLength = EjmlParameters.BLOCK_WIDTH;
      int[] reversed = new int[k];
      for (int a = 0; a < k; a++) {
        reversed[a] = perm[k - 1 - a];
      }
      for (int attempt = 1; attempt <= options.maxDampAttempts(); attempt++) {
        double damping = attempt * lambda;
        DMatrixRBlock h = new DMatrixRBlock(k, k, blockLength);
        for (int a = 0; a < k; a++) {
          int ra = reversed[a];
          double[] rowA = hessian[ra];
          for (int c = 0; c <= a; c++) {
            int rc = reversed[c];
            double v = a == c ? diag[ra] + damping : 0.5 * (rowA[rc] + hessian[rc][ra]);
            if (!Double.isFinite(v)) {
              throw new HeadwiseException(
                  "layer " + layerName + ": Hessian entry (" + ra + ", " + rc + ") is " + v);
            }
            h.set(a, c, v);
            h.set(c, a, v);
          }
        }
        CholeskyOuterForm_MT_DDRB cholesky = new CholeskyOuterForm_MT_DDRB(true);
        if (!cholesky.decompose(h)) {
          continue;
        }
        DMatrixRBlock lower = cholesky.getT(null);
        if (!positiveFiniteDiagonal(lower)) {
          continue;
        }
        // In place (lower is h itself): a second K×K block matrix is 1.6 GB at K = 14336, and
        // EJML's multi-threaded inverse has no in-place form, so this one is single-threaded.
        TriangularSolver_DDRB.invert(
            blockLength, false, new DSubmatrixD1(lower), new GrowArray<>(DGrowArray::new));
        if (!positiveFiniteDiagonal(lower)) {
          continue;
        }
        return new InverseFactor(k, lower, damping, attempt);
      }
      throw new HeadwiseException(
          "layer "
              + layerName
              + ": the Hessian is not positive definite even after adding "
              + options.maxDampAttempts()
              + " x "
              + options.percentDamp()
              + " x mean(diag) = "
              + options.maxDampAttempts() * lambda
              + " to its diagonal; use more (or more varied) calibration "
              + "samples or a larger percentDamp");
    }

    private static boolean positiveFiniteDiagonal(DMatrixRBlock m) {
      for (int i = 0; i < m.numRows; i++) {
        double v = m.get(i, i);
        if (!(v > 0) || Double.isInfinite(v)) {
          return false;
        }
      }
      return true;
    }

    /**
     * Rows {@code [i1, i1+count)} of {@code U}, columns {@code [i1, K)}: entry {@code (r, c)} at
     * {@code r·(K−i1) + c}, zero below the diagonal. {@code U(i, j) = L⁻¹(K−1−i, K−1−j)}.
     */
    double[] upperRows(int i1, int count) {
      int width = k - i1;
      double[] out = new double[count * width];
      for (int r = 0; r < count; r++) {
        int li = k - 1 - (i1 + r);
        for (int c = r; c < width; c++) {
          out[r * width + c] = lowerInverse.get(li, k - 1 - (i1 + c));
        }
      }
      return out;
    }
  }
}
