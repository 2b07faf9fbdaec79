package io.headwise.profilers;

import io.headwise.schemas.StatNames;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.IntStream;

/**
 * The naive route, kept for the benchmark: reduces probabilities that were copied out of ONNX
 * Runtime as [B, H, T, T] arrays in the JVM (parallel over batch rows and heads, one pass per query
 * row with prefix sums), to the same statistics and the same accumulator as the in-graph route. It
 * exists to measure what in-graph reduction saves.
 */
public final class JvmStatsReducer {
  private final StatsConfig config;
  private final List<Integer> windows;
  private final boolean causal;

  public JvmStatsReducer(StatsConfig config, List<Integer> windows, boolean causal) {
    this.config = config;
    this.windows = windows;
    this.causal = causal;
  }

  /** Per (row, head) sums of one layer. */
  private static final class Sums {
    final double[][] values;

    Sums(int stats) {
      values = new double[stats][];
    }
  }

  /**
   * Reduces one layer of one batch into {@code acc}: p is [B, H, T, T], v is [B, Hv, T, D] as fed
   * to MatMul(P, V).
   */
  public void add(
      StatsAccumulator acc,
      int bucket,
      int layer,
      Batch batch,
      float[] p,
      float[] v,
      int heads,
      int vHeads,
      int d) {
    int b = batch.size();
    int t = batch.length();
    int group = heads / vHeads;
    List<String> names = statNames();
    int nStats = names.size();
    double[][][] sums = new double[b * heads][][];
    double[][] outNorm = new double[b * heads][];
    IntStream.range(0, b * heads)
        .parallel()
        .forEach(
            bh -> {
              int row = bh / heads;
              int h = bh % heads;
              double[][] r = new double[nStats][1];
              double[] norm = new double[1];
              reduceHead(
                  batch.mask()[row],
                  p,
                  ((long) (row * heads + h)) * t * t,
                  v,
                  ((long) (row * vHeads + h / group)) * t * d,
                  t,
                  d,
                  r,
                  norm,
                  names);
              sums[bh] = r;
              outNorm[bh] = norm;
            });
    double count = 0;
    for (int row = 0; row < b; row++) {
      for (long m : batch.mask()[row]) {
        count += m != 0 ? 1 : 0;
      }
    }
    for (int s = 0; s < nStats; s++) {
      double[] perHead = new double[heads];
      double[] den = null;
      boolean deviation = names.get(s).startsWith("stream_deviation");
      if (deviation) {
        den = new double[heads];
      }
      for (int bh = 0; bh < b * heads; bh++) {
        perHead[bh % heads] += sums[bh][s][0];
        if (deviation) {
          den[bh % heads] += outNorm[bh][0];
        }
      }
      acc.add(bucket, layer, names.get(s), perHead, count, den);
    }
  }

  private List<String> statNames() {
    List<String> names = new ArrayList<>();
    names.add(StatNames.ENTROPY_MEAN);
    config.sinks().forEach(s -> names.add(StatNames.sinkMass(s)));
    for (int w : windows) {
      names.add(StatNames.localMass(w));
      for (int sS : config.streamSinks()) {
        names.add(StatNames.coverage(sS, w));
        if (config.streamDeviation()) {
          names.add(StatNames.streamDeviation(sS, w));
        }
      }
    }
    config.heavyHitterPercents().forEach(x -> names.add(StatNames.heavyHitterShare(x)));
    return names;
  }

  private void reduceHead(
      long[] mask,
      float[] p,
      long pBase,
      float[] v,
      long vBase,
      int t,
      int d,
      double[][] out,
      double[] outNorm,
      List<String> names) {
    int n = 0;
    int[] keyOf = new int[t];
    for (int j = 0; j < t; j++) {
      if (mask[j] != 0) {
        keyOf[n++] = j;
      }
    }
    double[] prefix = new double[n];
    double[] col = new double[n];
    double[] o = new double[d];
    double[] acc = new double[d];
    double[] sink = new double[d];
    int sinkCount = config.streamSinks().get(config.streamSinks().size() - 1);
    for (int pi = 0; pi < n; pi++) {
      long rowBase = pBase + (long) keyOf[pi] * t;
      double ent = 0;
      double c = 0;
      Arrays.fill(o, 0);
      for (int pj = 0; pj < n; pj++) {
        double x = p[(int) (rowBase + keyOf[pj])];
        if (x > 0) {
          ent -= x * Math.log(x);
        }
        c += x;
        prefix[pj] = c;
        col[pj] += x;
        if (x != 0) {
          long vb = vBase + (long) keyOf[pj] * d;
          for (int k = 0; k < d; k++) {
            o[k] += x * v[(int) (vb + k)];
          }
        }
      }
      int s = 0;
      out[s++][0] += ent;
      for (int sk : config.sinks()) {
        out[s++][0] += mass(prefix, sk - 1);
      }
      double norm = 0;
      for (double x : o) {
        norm += x * x;
      }
      outNorm[0] += norm;
      for (int w : windows) {
        int lo = pi - w;
        int hi = causal ? pi : pi + w - 1;
        out[s++][0] += mass(prefix, hi) - mass(prefix, lo);
        for (int sS : config.streamSinks()) {
          double cov =
              mass(prefix, sS - 1)
                  + mass(prefix, Math.max(hi, sS - 1))
                  - mass(prefix, Math.max(lo, sS - 1));
          out[s++][0] += cov;
          if (config.streamDeviation()) {
            // kept output: keys of valid position < S or in (lo, hi]
            Arrays.fill(acc, 0);
            double kept = 0;
            for (int pj = 0; pj < n; pj++) {
              if (pj < sS || (pj > lo && pj <= hi)) {
                double x = p[(int) (rowBase + keyOf[pj])];
                if (x != 0) {
                  kept += x;
                  long vb = vBase + (long) keyOf[pj] * d;
                  for (int k = 0; k < d; k++) {
                    acc[k] += x * v[(int) (vb + k)];
                  }
                }
              }
              if (pj >= sS && pj > hi) {
                break;
              }
            }
            double dev = 0;
            for (int k = 0; k < d; k++) {
              double diff = acc[k] / Math.max(kept, 1e-30) - o[k];
              dev += diff * diff;
            }
            out[s++][0] += dev;
          }
        }
      }
      s += 0;
    }
    // heavy hitters: share of column mass in the top p % of valid key columns
    double[] sorted = col.clone();
    Arrays.sort(sorted);
    int s = names.size() - config.heavyHitterPercents().size();
    for (int pct : config.heavyHitterPercents()) {
      int k = Math.max(1, (int) Math.ceil(n * pct / 100.0));
      double top = 0;
      for (int x = 0; x < k; x++) {
        top += sorted[n - 1 - x];
      }
      out[s++][0] += top;
    }
    Arrays.fill(sink, 0);
  }

  private static double mass(double[] prefix, int q) {
    if (q < 0 || prefix.length == 0) {
      return 0;
    }
    return prefix[Math.min(q, prefix.length - 1)];
  }
}
