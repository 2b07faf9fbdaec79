package io.headwise.planners.quant;

import org.ejml.data.DMatrixRMaj;
import org.ejml.dense.row.CommonOps_DDRM;
import org.ejml.dense.row.CommonOps_MT_DDRM;

/**
 * Accumulates one linear layer's GPTQ Hessian {@code H = (2 / sequences) · Σ_seq Σ_t w_t x_t x_tᵀ}
 * in double, as RSQ's {@code GPTQ.add_batch} does (token weights {@code w_t} from {@link
 * TokenImportance}, or 1). Accumulators over disjoint sequences can be merged, so partial sums can
 * come from Spark tasks.
 *
 * <p>Cost: {@code T·K²} multiply-adds per sequence in the JVM (EJML, multi-threaded), fine for
 * small models; for 4096-wide layers and thousands of tokens compute {@code Xᵀ·diag(w)·X} inside
 * ONNX Runtime and pass it to {@link #addWeightedGram}.
 */
public final class HessianAccumulator {

  private final int k;
  private final DMatrixRMaj sum;
  private long sequences;

  /** An empty accumulator for a layer with {@code k} inputs. */
  public HessianAccumulator(int k) {
    if (k < 1) {
      throw new IllegalArgumentException("k must be positive, got " + k);
    }
    this.k = k;
    this.sum = new DMatrixRMaj(k, k);
  }

  /** Inputs K. */
  public int inputs() {
    return k;
  }

  /** Sequences added so far. */
  public long sequences() {
    return sequences;
  }

  /**
   * Adds one sequence.
   *
   * @param activations the layer's input rows {@code [tokens][K]}, row-major (ONNX Runtime's {@code
   *     float[]})
   * @param tokenWeights per-token weights (mean 1 by convention), or {@code null} for all 1
   */
  public void addSequence(float[] activations, int tokens, double[] tokenWeights) {
    if (activations.length != (long) tokens * k) {
      throw new IllegalArgumentException(
          "activations have " + activations.length + " values, expected " + tokens + " x " + k);
    }
    if (tokenWeights != null && tokenWeights.length != tokens) {
      throw new IllegalArgumentException(
          "token weights have " + tokenWeights.length + " entries, expected " + tokens);
    }
    DMatrixRMaj x = new DMatrixRMaj(tokens, k);
    for (int t = 0; t < tokens; t++) {
      double s = tokenWeights == null ? 1 : Math.sqrt(tokenWeights[t]);
      int off = t * k;
      for (int j = 0; j < k; j++) {
        x.data[off + j] = s * activations[off + j];
      }
    }
    CommonOps_MT_DDRM.multAddTransA(x, x, sum);
    sequences++;
  }

  /**
   * Adds a precomputed {@code Σ_t w_t x_t x_tᵀ} over {@code sequenceCount} sequences (e.g. computed
   * by a MatMul appended to the graph).
   */
  public void addWeightedGram(double[][] gram, long sequenceCount) {
    if (gram.length != k) {
      throw new IllegalArgumentException("Gram matrix must be " + k + "x" + k);
    }
    for (int i = 0; i < k; i++) {
      if (gram[i].length != k) {
        throw new IllegalArgumentException("Gram matrix must be " + k + "x" + k);
      }
      for (int j = 0; j < k; j++) {
        sum.data[i * k + j] += gram[i][j];
      }
    }
    sequences += sequenceCount;
  }

  /** Adds another accumulator's sums (same K). */
  public void merge(HessianAccumulator other) {
    if (other.k != k) {
      throw new IllegalArgumentException("cannot merge K=" + other.k + " into K=" + k);
    }
    CommonOps_DDRM.addEquals(sum, other.sum);
    sequences += other.sequences;
  }

  /** {@code (2 / sequences) · Σ}, symmetric, as a new {@code [K][K]} array. */
  public double[][] hessian() {
    if (sequences == 0) {
      throw new IllegalStateException("no sequences added");
    }
    double f = 2.0 / sequences;
    double[][] h = new double[k][k];
    for (int i = 0; i < k; i++) {
      for (int j = 0; j < k; j++) {
        h[i][j] = f * 0.5 * (sum.data[i * k + j] + sum.data[j * k + i]);
      }
    }
    return h;
  }
}
