package io.headwise.profilers;

import io.headwise.schemas.StatNames;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A direct, loop-by-loop implementation of the statistics contract from exposed probabilities, in
 * double: the oracle the in-graph statistics are checked against. Accumulates numerators and
 * denominators over batches.
 */
final class ReferenceStats {
  private final StatsConfig config;
  private final List<Integer> windows;
  private final boolean causal;
  private final Map<String, double[]> num = new HashMap<>();
  private final Map<String, double[]> den = new HashMap<>();

  ReferenceStats(StatsConfig config, List<Integer> windows, boolean causal) {
    this.config = config;
    this.windows = windows;
    this.causal = causal;
  }

  /** Adds one layer of one batch: p [B][H][T][T], v [B][Hv][T][D] as fed to MatMul(P, V). */
  void add(int layer, float[] p, float[] v, int heads, int vHeads, int d, Batch batch) {
    int bsz = batch.size();
    int t = batch.length();
    int group = heads / vHeads;
    for (int b = 0; b < bsz; b++) {
      int[] pos = new int[t];
      boolean[] valid = new boolean[t];
      int c = 0;
      int nValid = 0;
      for (int j = 0; j < t; j++) {
        valid[j] = batch.mask()[b][j] != 0;
        pos[j] = valid[j] ? c++ : -1;
        nValid += valid[j] ? 1 : 0;
      }
      for (int h = 0; h < heads; h++) {
        int base = ((b * heads) + h) * t * t;
        int vb = ((b * vHeads) + h / group) * t * d;
        double[] col = new double[t];
        for (int i = 0; i < t; i++) {
          if (!valid[i]) {
            continue;
          }
          double ent = 0;
          double[] o = new double[d];
          for (int j = 0; j < t; j++) {
            double pij = p[base + i * t + j];
            if (pij > 0) {
              ent -= pij * Math.log(pij);
            }
            col[j] += pij;
            for (int x = 0; x < d; x++) {
              o[x] += pij * v[vb + j * d + x];
            }
          }
          add(layer, StatNames.ENTROPY_MEAN, h, heads, ent, 1);
          for (int s : config.sinks()) {
            double m = 0;
            for (int j = 0; j < t; j++) {
              if (valid[j] && pos[j] < s) {
                m += p[base + i * t + j];
              }
            }
            add(layer, StatNames.sinkMass(s), h, heads, m, 1);
          }
          double oNorm = 0;
          for (int x = 0; x < d; x++) {
            oNorm += o[x] * o[x];
          }
          if (config.streamDeviation() && !config.streamSinks().isEmpty()) {
            add(layer, StatNames.HEAD_OUTPUT_ENERGY, h, heads, oNorm, 1);
          }
          for (int w : windows) {
            double m = 0;
            for (int j = 0; j < t; j++) {
              if (valid[j] && inBand(pos[i], pos[j], w)) {
                m += p[base + i * t + j];
              }
            }
            add(layer, StatNames.localMass(w), h, heads, m, 1);
            for (int sS : config.streamSinks()) {
              double cov = 0;
              double[] ok = new double[d];
              for (int j = 0; j < t; j++) {
                if (valid[j] && (pos[j] < sS || inBand(pos[i], pos[j], w))) {
                  double pij = p[base + i * t + j];
                  cov += pij;
                  for (int x = 0; x < d; x++) {
                    ok[x] += pij * v[vb + j * d + x];
                  }
                }
              }
              add(layer, StatNames.coverage(sS, w), h, heads, cov, 1);
              if (config.streamDeviation()) {
                double dev = 0;
                for (int x = 0; x < d; x++) {
                  double diff = ok[x] / cov - o[x];
                  dev += diff * diff;
                }
                add(layer, StatNames.streamDeviation(sS, w), h, heads, dev, oNorm);
              }
            }
          }
          if (batch.kind() == ProbeKind.REPEAT) {
            long start = batch.probe()[0][b];
            long period = batch.probe()[1][b];
            long end = start + batch.probe()[2][b] * period;
            if (pos[i] >= start + period && pos[i] < end) {
              double echo = 0;
              double ind = 0;
              for (int j = 0; j < t; j++) {
                if (!valid[j] || pos[j] >= end) {
                  continue;
                }
                int dist = pos[i] - pos[j];
                if (pos[j] >= start && dist > 0 && dist % period == 0) {
                  echo += p[base + i * t + j];
                }
                if (pos[j] >= start + 1 && dist + 1 >= period && (dist + 1) % period == 0) {
                  ind += p[base + i * t + j];
                }
              }
              add(layer, StatNames.ECHO_SCORE, h, heads, echo, 1);
              add(layer, StatNames.INDUCTION_SCORE, h, heads, ind, 1);
            }
          }
          if (batch.kind() == ProbeKind.PASSKEY) {
            long ns = batch.probe()[3][b];
            long ne = batch.probe()[4][b];
            if (pos[i] >= batch.probe()[5][b] && pos[i] < batch.probe()[6][b]) {
              double m = 0;
              for (int j = 0; j < t; j++) {
                if (valid[j] && pos[j] >= ns && pos[j] < ne) {
                  m += p[base + i * t + j];
                }
              }
              add(layer, StatNames.NEEDLE_MASS, h, heads, m, 1);
            }
          }
        }
        double[] validCols = new double[nValid];
        int k = 0;
        for (int j = 0; j < t; j++) {
          if (valid[j]) {
            validCols[k++] = col[j];
          }
        }
        Arrays.sort(validCols);
        for (int pct : config.heavyHitterPercents()) {
          int top = Math.max(1, (int) Math.ceil(nValid * pct / 100.0));
          double m = 0;
          for (int x = 0; x < top; x++) {
            m += validCols[nValid - 1 - x];
          }
          add(layer, StatNames.heavyHitterShare(pct), h, heads, m, nValid);
        }
      }
    }
  }

  private boolean inBand(int pi, int pj, int w) {
    int dist = pi - pj;
    return causal ? dist >= 0 && dist < w : Math.abs(dist) < w;
  }

  private void add(int layer, String stat, int h, int heads, double numerator, double denominator) {
    num.computeIfAbsent(layer + "|" + stat, k -> new double[heads])[h] += numerator;
    den.computeIfAbsent(layer + "|" + stat, k -> new double[heads])[h] += denominator;
  }

  /** The value of {@code stat} for (layer, head), or NaN if never counted. */
  double value(int layer, String stat, int head) {
    double[] n = num.get(layer + "|" + stat);
    double[] d = den.get(layer + "|" + stat);
    return n == null || d[head] == 0 ? Double.NaN : n[head] / d[head];
  }

  List<String> keys() {
    return new ArrayList<>(num.keySet());
  }
}
