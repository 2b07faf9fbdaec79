package io.headwise.export.attention;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * A plain Java (double precision) computation of HeadwiseAttention from Q, K, V, the additive mask and the plan
 * attributes, written from the specification in docs/headwise-attention.md rather than from the ONNX body.
 */
final class ReferenceAttention {
  /** The op's attributes for one layer. */
  record Attributes(long[] kinds, long[] sinkTokens, float[] alpha, float[] beta, long[] budgetTokens,
      long[] recentTokens, long[] budgetGroups, long[] kvHeads, float scale, boolean causal) {}

  /** A dense 4-D float tensor. */
  record Tensor4(float[] v, long[] shape) {
    int d(int i) {
      return (int) shape[i];
    }

    /** Value at (a, b, c, d) with size-1 dims broadcast. */
    double at(int a, int b, int c, int e) {
      int a1 = shape[0] == 1 ? 0 : a;
      int b1 = shape[1] == 1 ? 0 : b;
      int c1 = shape[2] == 1 ? 0 : c;
      int e1 = shape[3] == 1 ? 0 : e;
      return v[((a1 * d(1) + b1) * d(2) + c1) * d(3) + e1];
    }
  }

  /** Smallest gap, over budget-head selections, between the last kept and the first dropped heavy-hitter score. */
  double minSelectionGap = Double.POSITIVE_INFINITY;

  /** The op's output [B, H, Tq, Dv]. */
  double[] attend(Tensor4 q, Tensor4 k, Tensor4 v, Tensor4 mask, Attributes a) {
    int batch = q.d(0);
    int heads = q.d(1);
    int tq = q.d(2);
    int dim = q.d(3);
    int tk = k.d(2);
    int dv = v.d(3);
    double[][][][] scores = new double[batch][heads][tq][tk];
    for (int b = 0; b < batch; b++) {
      for (int h = 0; h < heads; h++) {
        int kh = (int) a.kvHeads()[h];
        for (int i = 0; i < tq; i++) {
          for (int j = 0; j < tk; j++) {
            double dot = 0;
            for (int x = 0; x < dim; x++) {
              dot += q.at(b, h, i, x) * k.at(b, kh, j, x);
            }
            scores[b][h][i][j] = a.scale() * dot + mask.at(b, h, i, j);
          }
        }
      }
    }
    boolean[][][][] keep = new boolean[batch][heads][tq][tk];
    for (int b = 0; b < batch; b++) {
      for (int h = 0; h < heads; h++) {
        for (int i = 0; i < tq; i++) {
          int pos = tk - tq + i;
          for (int j = 0; j < tk; j++) {
            keep[b][h][i][j] = staticKeep(a, h, pos, j, tk);
          }
        }
      }
      budgetKeep(a, scores[b], keep[b], tk);
    }
    double[] out = new double[batch * heads * tq * dv];
    for (int b = 0; b < batch; b++) {
      for (int h = 0; h < heads; h++) {
        int kh = (int) a.kvHeads()[h];
        for (int i = 0; i < tq; i++) {
          double[] p = softmax(scores[b][h][i], keep[b][h][i]);
          if (p == null) {
            continue; // keeps no key: output 0
          }
          for (int x = 0; x < dv; x++) {
            double o = 0;
            for (int j = 0; j < tk; j++) {
              o += p[j] * v.at(b, kh, j, x);
            }
            out[((b * heads + h) * tq + i) * dv + x] = o;
          }
        }
      }
    }
    return out;
  }

  /** Full, sink and window heads (budget heads keep nothing here). */
  private static boolean staticKeep(Attributes a, int h, int i, int j, int tk) {
    if (a.causal() && j > i) {
      return false;
    }
    int kind = (int) a.kinds()[h];
    if (kind == HeadwiseAttentionOp.KIND_FULL) {
      return true;
    }
    if (kind != HeadwiseAttentionOp.KIND_STREAMING && kind != HeadwiseAttentionOp.KIND_ELASTIC) {
      return false;
    }
    if (j < a.sinkTokens()[h]) {
      return true;
    }
    float n = a.causal() ? i + 1 : tk;
    float span = Math.max(0f, a.alpha()[h] + a.beta()[h] * n); // float32: β·n, then + α
    float distance = a.causal() ? i - j : Math.abs(i - j);
    return distance < span;
  }

  /**
   * H2O-style budget heads: for query i with n = i + 1 keys, every key when n ≤ budget, else the recent keys
   * (i − j &lt; recent) plus the top (budget − recent) older keys by dense attention accumulated over queries
   * i' &lt; i, averaged over the heads of the budget group; ties to the lower key index.
   */
  private void budgetKeep(Attributes a, double[][][] scores, boolean[][][] keep, int tk) {
    int heads = scores.length;
    int tq = scores[0].length;
    boolean any = false;
    for (long kind : a.kinds()) {
      any |= kind == HeadwiseAttentionOp.KIND_BUDGET;
    }
    if (!any) {
      return;
    }
    double[][][] dense = new double[heads][tq][];
    for (int h = 0; h < heads; h++) {
      for (int i = 0; i < tq; i++) {
        boolean[] all = new boolean[tk];
        Arrays.fill(all, true);
        dense[h][i] = softmax(scores[h][i], all);
      }
    }
    for (int h = 0; h < heads; h++) {
      if (a.kinds()[h] != HeadwiseAttentionOp.KIND_BUDGET) {
        continue;
      }
      List<Integer> group = new ArrayList<>();
      for (int g = 0; g < heads; g++) {
        if (a.budgetGroups()[g] == a.budgetGroups()[h]) {
          group.add(g);
        }
      }
      long budget = a.budgetTokens()[h];
      long recent = a.recentTokens()[h];
      double[] accumulated = new double[tk];
      for (int i = 0; i < tq; i++) {
        int pos = tk - tq + i;
        int n = pos + 1;
        for (int j = 0; j <= pos; j++) {
          keep[h][i][j] = n <= budget || pos - j < recent;
        }
        if (n > budget) {
          List<Integer> candidates = new ArrayList<>();
          for (int j = 0; j <= pos; j++) {
            if (pos - j >= recent) {
              candidates.add(j);
            }
          }
          final double[] acc = accumulated.clone();
          candidates.sort(Comparator.<Integer>comparingDouble(j -> -acc[j]).thenComparingInt(j -> j));
          int heavy = (int) (budget - recent);
          for (int r = 0; r < heavy && r < candidates.size(); r++) {
            keep[h][i][candidates.get(r)] = true;
          }
          if (heavy > 0 && heavy < candidates.size()) {
            minSelectionGap = Math.min(minSelectionGap,
                acc[candidates.get(heavy - 1)] - acc[candidates.get(heavy)]);
          }
        }
        for (int j = 0; j < tk; j++) {
          double mean = 0;
          for (int g : group) {
            mean += dense[g][i][j];
          }
          accumulated[j] += mean / group.size();
        }
      }
    }
  }

  /** Softmax over the kept entries, or null when none is kept. */
  private static double[] softmax(double[] s, boolean[] keep) {
    double max = Double.NEGATIVE_INFINITY;
    for (int j = 0; j < s.length; j++) {
      if (keep[j]) {
        max = Math.max(max, s[j]);
      }
    }
    if (max == Double.NEGATIVE_INFINITY) {
      return null;
    }
    double[] p = new double[s.length];
    double sum = 0;
    for (int j = 0; j < s.length; j++) {
      if (keep[j]) {
        p[j] = Math.exp(s[j] - max);
        sum += p[j];
      }
    }
    for (int j = 0; j < s.length; j++) {
      p[j] /= sum;
    }
    return p;
  }
}
