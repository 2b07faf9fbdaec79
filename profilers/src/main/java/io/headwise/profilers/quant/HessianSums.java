package io.headwise.profilers.quant;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;

/**
 * Double-precision sums {@code Σ_t w_t x_t x_tᵀ} per {@link HessianGroup}, with the tokens and
 * sequences they cover. Sums over disjoint samples add: {@link #merge} is exact addition in double,
 * so partial sums from Spark partitions (or batches) combine into the same totals as one pass, up
 * to the order of double additions.
 */
public final class HessianSums implements Serializable {
  private static final long serialVersionUID = 1L;

  private final int[] inFeatures;
  private final double[][] sums;
  private long tokens;
  private long sequences;

  /** Empty sums for groups of the given input widths. */
  public HessianSums(int[] inFeatures) {
    this.inFeatures = inFeatures.clone();
    this.sums = new double[inFeatures.length][];
    for (int g = 0; g < inFeatures.length; g++) {
      sums[g] = new double[Math.multiplyExact(inFeatures[g], inFeatures[g])];
    }
  }

  /** Empty sums for {@code groups}; sums index {@code i} holds {@code groups.get(i)}. */
  public static HessianSums of(List<HessianGroup> groups) {
    int[] k = new int[groups.size()];
    for (int g = 0; g < k.length; g++) {
      k[g] = groups.get(g).inFeatures();
    }
    return new HessianSums(k);
  }

  /** Adds one batch's float sums of group {@code g} (row-major {@code [K, K]}). */
  public void add(int group, float[] gram) {
    double[] s = sums[group];
    if (gram.length != s.length) {
      throw new IllegalArgumentException(
          "group " + group + ": " + gram.length + " values, expected " + s.length);
    }
    for (int i = 0; i < s.length; i++) {
      s[i] += gram[i];
    }
  }

  /** Adds precomputed double sums of group {@code g} (e.g. a merged Spark partial). */
  public void add(int group, double[] gram) {
    double[] s = sums[group];
    if (gram.length != s.length) {
      throw new IllegalArgumentException(
          "group " + group + ": " + gram.length + " values, expected " + s.length);
    }
    for (int i = 0; i < s.length; i++) {
      s[i] += gram[i];
    }
  }

  /** Counts the tokens and sequences of a batch. */
  public void count(long batchTokens, long batchSequences) {
    tokens += batchTokens;
    sequences += batchSequences;
  }

  /** Adds {@code other}'s sums and counts (same groups). */
  public void merge(HessianSums other) {
    if (other.sums.length != sums.length) {
      throw new IllegalArgumentException(
          "cannot merge sums of " + other.sums.length + " groups into " + sums.length);
    }
    for (int g = 0; g < sums.length; g++) {
      add(g, other.sums[g]);
    }
    count(other.tokens, other.sequences);
  }

  /** Number of groups. */
  public int groupCount() {
    return sums.length;
  }

  /** K of group {@code g}. */
  public int inFeatures(int group) {
    return inFeatures[group];
  }

  /** The row-major {@code [K, K]} sums of group {@code g} (the live array, not a copy). */
  public double[] sum(int group) {
    return sums[group];
  }

  /** The sums of group {@code g} as {@code [K][K]}, symmetrised ({@code (S + Sᵀ)/2}). */
  public double[][] symmetric(int group) {
    int k = inFeatures[group];
    double[] s = sums[group];
    double[][] out = new double[k][k];
    for (int i = 0; i < k; i++) {
      for (int j = 0; j < k; j++) {
        out[i][j] = 0.5 * (s[i * k + j] + s[j * k + i]);
      }
    }
    return out;
  }

  /** Valid tokens summed over. */
  public long tokens() {
    return tokens;
  }

  /** Sequences summed over. */
  public long sequences() {
    return sequences;
  }

  /** Group indices, for iteration. */
  public List<Integer> groups() {
    List<Integer> out = new ArrayList<>();
    for (int g = 0; g < sums.length; g++) {
      out.add(g);
    }
    return out;
  }
}
