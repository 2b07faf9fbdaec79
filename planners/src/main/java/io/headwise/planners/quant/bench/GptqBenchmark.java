package io.headwise.planners.quant.bench;

import io.headwise.planners.quant.GptqOptions;
import io.headwise.planners.quant.GptqQuantizer;
import io.headwise.planners.quant.GptqResult;
import io.headwise.planners.quant.QuantConfig;
import java.util.SplittableRandom;
import org.ejml.data.DMatrixRMaj;
import org.ejml.dense.row.CommonOps_MT_DDRM;

/**
 * Times GPTQ on one synthetic layer: Gaussian weights {@code [n][k]} and a random positive-definite
 * Hessian {@code XᵀX/T + 0.01·mean(diag)·I} from {@code T = 512} Gaussian tokens with log-normal
 * channel scales (a few outlier channels), 4-bit asymmetric, group 128, RSQ's GPTQ options. Only
 * the {@link GptqQuantizer} call is timed.
 *
 * <p>Run: {@code java -cp planners/target/classes:<ejml jars>:<schemas jar>
 * io.headwise.planners.quant.bench.GptqBenchmark [k n seed]}.
 */
public final class GptqBenchmark {

  /** Tokens behind the synthetic Hessian. */
  public static final int TOKENS = 512;

  /**
   * One measurement.
   *
   * @param k inputs
   * @param n outputs
   * @param hessianSeconds time to build the synthetic Hessian (not part of GPTQ)
   * @param gptqSeconds wall time of the GPTQ call
   * @param gptqCpuSeconds CPU time the JVM process used during the GPTQ call (all threads; on a
   *     shared machine {@code cpu / threads} approximates the wall time with the cores to itself)
   * @param loss GPTQ's loss
   * @param dampAttempts damping multiples needed
   * @param threads available processors
   */
  public record Result(
      int k,
      int n,
      double hessianSeconds,
      double gptqSeconds,
      double gptqCpuSeconds,
      double loss,
      int dampAttempts,
      int threads) {
    @Override
    public String toString() {
      return String.format(
          "GPTQ %dx%d (4-bit asym, group 128, block 128) on %d threads: %.2f s wall, %.2f s CPU, "
              + "loss %.6g, damping attempts %d (Hessian setup %.2f s)",
          n, k, threads, gptqSeconds, gptqCpuSeconds, loss, dampAttempts, hessianSeconds);
    }
  }

  private GptqBenchmark() {}

  /** Quantizes one random {@code n × k} layer and reports the time. */
  public static Result run(int k, int n, long seed) {
    SplittableRandom random = new SplittableRandom(seed);
    long t0 = System.nanoTime();
    double[] channelScale = new double[k];
    for (int j = 0; j < k; j++) {
      channelScale[j] = Math.exp(0.5 * random.nextGaussian()) * (random.nextInt(100) == 0 ? 10 : 1);
    }
    DMatrixRMaj x = new DMatrixRMaj(TOKENS, k);
    for (int t = 0; t < TOKENS; t++) {
      for (int j = 0; j < k; j++) {
        x.data[t * k + j] = random.nextGaussian() * channelScale[j];
      }
    }
    DMatrixRMaj gram = new DMatrixRMaj(k, k);
    CommonOps_MT_DDRM.mult(CommonOps_MT_DDRM.transpose(x, null), x, gram);
    double meanDiag = 0;
    for (int j = 0; j < k; j++) {
      meanDiag += gram.get(j, j) / TOKENS / k;
    }
    double[][] hessian = new double[k][k];
    for (int i = 0; i < k; i++) {
      for (int j = 0; j < k; j++) {
        hessian[i][j] = gram.get(i, j) / TOKENS + (i == j ? 0.01 * meanDiag : 0);
      }
    }
    gram = null;
    x = null;
    double[][] weight = new double[n][k];
    for (double[] row : weight) {
      for (int j = 0; j < k; j++) {
        row[j] = random.nextGaussian() * 0.02;
      }
    }
    double hessianSeconds = (System.nanoTime() - t0) / 1e9;
    long cpu0 = processCpuNanos();
    GptqResult r =
        GptqQuantizer.quantize(
            "benchmark", weight, hessian, QuantConfig.asymmetric(4, 128), GptqOptions.defaults());
    double cpuSeconds = (processCpuNanos() - cpu0) / 1e9;
    return new Result(
        k,
        n,
        hessianSeconds,
        r.seconds(),
        cpuSeconds,
        r.loss(),
        r.dampAttempts(),
        Runtime.getRuntime().availableProcessors());
  }

  private static long processCpuNanos() {
    java.lang.management.OperatingSystemMXBean os =
        java.lang.management.ManagementFactory.getOperatingSystemMXBean();
    if (os instanceof com.sun.management.OperatingSystemMXBean) {
      return ((com.sun.management.OperatingSystemMXBean) os).getProcessCpuTime();
    }
    return -1;
  }

  /** Arguments: {@code [k [n [seed]]]}, default 4096 4096 0. */
  public static void main(String[] args) {
    int k = args.length > 0 ? Integer.parseInt(args[0]) : 4096;
    int n = args.length > 1 ? Integer.parseInt(args[1]) : k;
    long seed = args.length > 2 ? Long.parseLong(args[2]) : 0;
    System.out.println(run(k, n, seed));
  }
}
