package io.headwise.jobs.quantize;

import ai.onnx.proto.OnnxMl.TensorProto;
import io.headwise.export.quant.MatMulNBitsWeights;
import io.headwise.export.quant.QuantizedLinear;
import io.headwise.graph.OnnxModel;
import io.headwise.graph.Tensors;
import io.headwise.jobs.spark.ModelRef;
import io.headwise.planners.quant.GptqQuantizer;
import io.headwise.planners.quant.GptqResult;
import io.headwise.planners.quant.QuantizedWeight;
import io.headwise.planners.quant.RtnQuantizer;
import io.headwise.profilers.quant.HessianGroup;
import io.headwise.profilers.quant.LinearLayer;
import io.headwise.schemas.HeadwiseException;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;
import java.util.function.IntToDoubleFunction;
import org.ejml.data.DMatrixRMaj;
import org.ejml.dense.row.CommonOps_DDRM;

/**
 * Quantizes the linears of one {@link HessianGroup} where it runs (a Spark task): reads their
 * weights from the model file, runs RTN or GPTQ (the Hessian is the group's merged sum,
 * symmetrised) in double, and returns packed {@code MatMulNBits} tensors. Only packed codes travel
 * back to the driver; Hessians never leave the executors.
 */
public final class QuantizeGroupTask implements Serializable {
  private static final long serialVersionUID = 1L;

  private final ModelRef model;
  private final List<HessianGroup> groups;
  private final QuantizeSpec spec;

  public QuantizeGroupTask(ModelRef model, List<HessianGroup> groups, QuantizeSpec spec) {
    this.model = model;
    this.groups = List.copyOf(groups);
    this.spec = spec;
  }

  /** K of group {@code id}. */
  public int inFeatures(int id) {
    return groups.get(id).inFeatures();
  }

  /**
   * Quantizes every linear of group {@code id}; {@code h} is its symmetrised {@code [K][K]} Hessian
   * sum, or null for RTN.
   */
  public List<QuantizedLinear> quantize(int id, double[][] h) {
    if (spec.needsHessian() && h == null) {
      throw new IllegalStateException("no Hessian for group " + id);
    }
    HessianGroup group = groups.get(id);
    OnnxModel m = model.load().model();
    List<QuantizedLinear> out = new ArrayList<>();
    for (LinearLayer l : group.linears()) {
      long start = System.nanoTime();
      QuantizedWeight q;
      double[][] w = null;
      double damping = 0;
      int attempts = 0;
      int dead = 0;
      double loss = 0;
      if (h == null) {
        // RTN rounds each output row on its own: read rows straight from the float source.
        q = RtnQuantizer.quantize(l.outFeatures(), l.inFeatures(), rows(m, l), spec.config());
      } else {
        w = weightOutIn(m, l);
        GptqResult r =
            GptqQuantizer.quantize(l.describe(), w, h, spec.config(), spec.gptqOptions());
        q = r.weight();
        damping = r.damping();
        attempts = r.dampAttempts();
        dead = r.deadInputs();
        loss = r.loss();
      }
      MatMulNBitsWeights packed = MatMulNBitsWeights.from(q, spec.groupSize());
      double error = h == null ? Double.NaN : relativeOutputError(w, packed.dequantizeOutIn(), h);
      double seconds = (System.nanoTime() - start) / 1e9;
      out.add(
          new QuantizedLinear(
              l.outputTensor(),
              l.nodeName(),
              l.weightName(),
              l.layer(),
              h == null ? -1 : id,
              l.inFeatures(),
              l.outFeatures(),
              packed.bits(),
              packed.blockSize(),
              packed.packedB(),
              packed.scales(),
              packed.packedZeroPoints().orElse(null),
              q.hasSymmetricZeros(),
              damping,
              attempts,
              dead,
              loss,
              error,
              seconds));
    }
    return out;
  }

  /** The layer's weight as {@code [N][K]} doubles (external data read from its file). */
  static double[][] weightOutIn(OnnxModel m, LinearLayer l) {
    RtnQuantizer.RowReader rows = rows(m, l);
    double[][] w = new double[l.outFeatures()][l.inFeatures()];
    for (int r = 0; r < w.length; r++) {
      rows.read(r, w[r]);
    }
    return w;
  }

  /**
   * Reads output row {@code r} of the layer's weight in place from the initializer (float, float16
   * or bfloat16; {@code [K, N]} as MatMul holds it, or {@code [N, K]} for Gemm with transB), so no
   * double copy of the whole weight is made.
   */
  static RtnQuantizer.RowReader rows(OnnxModel m, LinearLayer l) {
    TensorProto t = ExternalInitializers.initializer(m, l.weightName());
    IntToDoubleFunction v = Tensors.values(t);
    if (v == null) {
      throw new HeadwiseException(
          "weight " + l.weightName() + " of " + l.describe() + " is not float data");
    }
    int n = l.outFeatures();
    int k = l.inFeatures();
    if (l.weightOutIn()) {
      return (r, into) -> {
        for (int c = 0; c < k; c++) {
          into[c] = v.applyAsDouble(r * k + c);
        }
      };
    }
    return (r, into) -> {
      for (int c = 0; c < k; c++) {
        into[c] = v.applyAsDouble(c * n + r);
      }
    };
  }

  /** Rows of H per product in {@link #relativeOutputError} (512 × 14336 doubles = 59 MB). */
  private static final int ERROR_BLOCK = 512;

  /**
   * {@code tr(ΔW·H·ΔWᵀ) / tr(W·H·Wᵀ)} for {@code Δ = W − Ŵ}: the weighted output error GPTQ
   * minimises. H (symmetric) is read ERROR_BLOCK rows at a time, (X·H)[:, I] = X·H[I, :]ᵀ, so no
   * contiguous K×K copy of it is made.
   */
  static double relativeOutputError(double[][] w, float[] dequantizedOutIn, double[][] h) {
    int n = w.length;
    int k = w[0].length;
    DMatrixRMaj wm = new DMatrixRMaj(w);
    DMatrixRMaj delta = new DMatrixRMaj(n, k);
    for (int r = 0; r < n; r++) {
      for (int c = 0; c < k; c++) {
        delta.data[r * k + c] = w[r][c] - dequantizedOutIn[r * k + c];
      }
    }
    double num = 0;
    double den = 0;
    for (int i0 = 0; i0 < k; i0 += ERROR_BLOCK) {
      int rows = Math.min(ERROR_BLOCK, k - i0);
      DMatrixRMaj hb = new DMatrixRMaj(rows, k);
      for (int i = 0; i < rows; i++) {
        System.arraycopy(h[i0 + i], 0, hb.data, i * k, k);
      }
      DMatrixRMaj dh = new DMatrixRMaj(n, rows);
      CommonOps_DDRM.multTransB(delta, hb, dh);
      DMatrixRMaj wh = new DMatrixRMaj(n, rows);
      CommonOps_DDRM.multTransB(wm, hb, wh);
      for (int r = 0; r < n; r++) {
        for (int i = 0; i < rows; i++) {
          num += dh.data[r * rows + i] * delta.data[r * k + i0 + i];
          den += wh.data[r * rows + i] * wm.data[r * k + i0 + i];
        }
      }
    }
    return den > 0 ? num / den : Double.NaN;
  }
}
