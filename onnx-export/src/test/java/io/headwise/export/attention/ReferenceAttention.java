package io.headwise.export.attention;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * A plain Java (double precision) computation of HeadwiseAttention from Q, K, V, the additive mask
 * and the plan attributes, written from the specification in docs/headwise-attention.md rather than
 * from the ONNX body.
 */
final class ReferenceAttention {
  /** The op's attributes for one layer. */
  record Attributes(
      long[] kinds,
      long[] sinkTokens,
      float[] alpha,
      float[] beta,
      long[] budgetTokens,
      long[] recentTokens,
      long[] budgetGroups,
      long[] kvHeads,
      float scale,
      boolean causal,
      long[] compensation,
      double softcap) {
    /** The same attributes without soft-capping. */
    Attributes(
        long[] kinds,
        long[] sinkTokens,
        float[] alpha,
        float[] beta,
        long[] budgetTokens,
        long[] recentTokens,
        long[] budgetGroups,
        long[] kvHeads,
        float scale,
        boolean causal,
        long[] compensation) {
      this(
          kinds,
          sinkTokens,
          alpha,
          beta,
          budgetTokens,
          recentTokens,
          budgetGroups,
          kvHeads,
          scale,
          causal,
          compensation,
          0);
    }

    /** softcap·tanh(s/softcap) when softcap &gt; 0, else s: the op's logit before any mask. */
    double cap(double s) {
      return softcap > 0 ? softcap * Math.tanh(s / softcap) : s;
    }

    /** The same attributes without compensation entries. */
    Attributes(
        long[] kinds,
        long[] sinkTokens,
        float[] alpha,
        float[] beta,
        long[] budgetTokens,
        long[] recentTokens,
        long[] budgetGroups,
        long[] kvHeads,
        float scale,
        boolean causal) {
      this(
          kinds,
          sinkTokens,
          alpha,
          beta,
          budgetTokens,
          recentTokens,
          budgetGroups,
          kvHeads,
          scale,
          causal,
          new long[kinds.length]);
    }

    boolean compensated(int h) {
      long c = compensation.length == 1 ? compensation[0] : compensation[h];
      int kind = (int) kinds[h];
      return c == 1
          && (kind == HeadwiseAttentionOp.KIND_STREAMING
              || kind == HeadwiseAttentionOp.KIND_ELASTIC);
    }
  }

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

  /**
   * Smallest gap, over budget-head selections, between the last kept and the first dropped
   * heavy-hitter score.
   */
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
            scores[b][h][i][j] = a.cap(a.scale() * dot) + mask.at(b, h, i, j);
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
          if (a.compensated(h)) {
            compensated(q, k, v, scores[b][h][i], keep[b][h][i], a, b, h, tk - tq + i, i, out);
            continue;
          }
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

  /**
   * RazorAttention's compensation entry, as the paper describes it: the keys the head drops (j in
   * order, not kept) become one entry with key mean(K_dropped), value mean(V_dropped) and logit
   * scale·q·mean(K) + ln(count); the output is the softmax over kept keys and the entry, times
   * their values.
   */
  private static void compensated(
      Tensor4 q,
      Tensor4 k,
      Tensor4 v,
      double[] scores,
      boolean[] keep,
      Attributes a,
      int b,
      int h,
      int pos,
      int row,
      double[] out) {
    int kh = (int) a.kvHeads()[h];
    int tk = k.d(2);
    int dim = q.d(3);
    int dv = v.d(3);
    int heads = q.d(1);
    int tq = q.d(2);
    double[] meanKey = new double[dim];
    double[] meanValue = new double[dv];
    int count = 0;
    for (int j = 0; j < tk; j++) {
      boolean inOrder = !a.causal() || j <= pos;
      if (inOrder && !keep[j]) {
        count++;
        for (int x = 0; x < dim; x++) {
          meanKey[x] += k.at(b, kh, j, x);
        }
        for (int x = 0; x < dv; x++) {
          meanValue[x] += v.at(b, kh, j, x);
        }
      }
    }
    double entryLogit = Double.NEGATIVE_INFINITY;
    if (count > 0) {
      double dot = 0;
      for (int x = 0; x < dim; x++) {
        meanKey[x] /= count;
        dot += q.at(b, h, row, x) * meanKey[x];
      }
      for (int x = 0; x < dv; x++) {
        meanValue[x] /= count;
      }
      if (a.softcap() > 0) {
        // the op's entry logit is the mean of the dropped capped logits, not the cap of the mean
        throw new UnsupportedOperationException("reference: compensation with softcap");
      }
      entryLogit = a.scale() * dot + Math.log(count);
    }
    double max = entryLogit;
    for (int j = 0; j < tk; j++) {
      if (keep[j]) {
        max = Math.max(max, scores[j]);
      }
    }
    if (max == Double.NEGATIVE_INFINITY) {
      return; // nothing kept, nothing dropped: output 0
    }
    double sum = count > 0 ? Math.exp(entryLogit - max) : 0;
    for (int j = 0; j < tk; j++) {
      sum += keep[j] ? Math.exp(scores[j] - max) : 0;
    }
    for (int x = 0; x < dv; x++) {
      double o = count > 0 ? Math.exp(entryLogit - max) / sum * meanValue[x] : 0;
      for (int j = 0; j < tk; j++) {
        if (keep[j]) {
          o += Math.exp(scores[j] - max) / sum * v.at(b, kh, j, x);
        }
      }
      out[((b * heads + h) * tq + row) * dv + x] = o;
    }
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
   * H2O-style budget heads: for query i with n = i + 1 keys, every key when n ≤ budget, else the
   * recent keys (i − j &lt; recent) plus the top (budget − recent) older keys by dense attention
   * accumulated over queries i' &lt; i, averaged over the heads of the budget group; ties to the
   * lower key index.
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
          candidates.sort(
              Comparator.<Integer>comparingDouble(j -> -acc[j]).thenComparingInt(j -> j));
          int heavy = (int) (budget - recent);
          for (int r = 0; r < heavy && r < candidates.size(); r++) {
            keep[h][i][candidates.get(r)] = true;
          }
          if (heavy > 0 && heavy < candidates.size()) {
            minSelectionGap =
                Math.min(
                    minSelectionGap, acc[candidates.get(heavy - 1)] - acc[candidates.get(heavy)]);
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
