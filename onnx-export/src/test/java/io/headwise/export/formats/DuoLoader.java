package io.headwise.export.formats;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * A line-by-line re-implementation of DuoAttention's pattern loader (mit-han-lab/duo-attention,
 * {@code duo_attn/utils.py}), to check that the files the duo format writes load into the plan:
 *
 * <pre>
 * load_attn_pattern(dir):  gates = np.clip(np.loadtxt(dir/full_attention_heads.tsv, dtype=float, delimiter="\t"), 0, 1)
 *                          sink_size, recent_size = config["sink_size"], config["recent_size"]
 * sparsify_attention_heads(gates, threshold=None, sparsity=None):
 *     gates += np.random.uniform(0, 1e-6, gates.shape)
 *     if sparsity is not None: threshold = np.quantile(gates, sparsity)      # linear interpolation, flattened
 *     else: assert threshold is not None
 *     if sparsity >= 1: threshold = 2                                        # outside the if: None >= 1 raises
 *     if sparsity <= 0: threshold = -1
 *     full = (gates >= threshold)
 * </pre>
 *
 * (read at commit 03dca842639c64ed0d0daf9042da845cdea44637). With a threshold and no sparsity the
 * comparison {@code None >= 1} raises a TypeError in Python 3; {@link #sparsify} throws then.
 */
final class DuoLoader {
  record Pattern(double[][] gates, int sinkSize, int recentSize) {}

  private DuoLoader() {}

  static Pattern load(Path dir) throws IOException {
    double[][] gates = loadtxt(dir.resolve("full_attention_heads.tsv"));
    for (double[] row : gates) {
      for (int k = 0; k < row.length; k++) {
        row[k] = Math.min(1.0, Math.max(0.0, row[k]));
      }
    }
    JsonNode config = new ObjectMapper().readTree(dir.resolve("config.json").toFile());
    return new Pattern(gates, config.get("sink_size").asInt(), config.get("recent_size").asInt());
  }

  /** np.loadtxt(..., dtype=float, delimiter="\t") of a 2-D file. */
  static double[][] loadtxt(Path file) throws IOException {
    List<String> lines = Files.readAllLines(file).stream().filter(l -> !l.isBlank()).toList();
    double[][] out = new double[lines.size()][];
    for (int i = 0; i < out.length; i++) {
      out[i] = Arrays.stream(lines.get(i).split("\t")).mapToDouble(Double::parseDouble).toArray();
    }
    return out;
  }

  /**
   * sparsify_attention_heads with the given noise source; threshold or sparsity as Duo's arguments.
   */
  static boolean[][] sparsify(double[][] gates, Double threshold, Double sparsity, Random noise) {
    double[][] g = new double[gates.length][];
    for (int i = 0; i < g.length; i++) {
      g[i] = gates[i].clone();
      for (int k = 0; k < g[i].length; k++) {
        g[i][k] += noise.nextDouble() * 1e-6;
      }
    }
    double tau;
    if (sparsity != null) {
      tau = quantile(g, sparsity);
    } else {
      if (threshold == null) {
        throw new IllegalArgumentException(
            "AssertionError: Either threshold or sparsity must be provided");
      }
      tau = threshold;
    }
    if (sparsity == null) {
      // Python: `None >= 1`
      throw new IllegalArgumentException(
          "TypeError: '>=' not supported between instances of 'NoneType' and 'int'");
    }
    if (sparsity >= 1) {
      tau = 2;
    }
    if (sparsity <= 0) {
      tau = -1;
    }
    boolean[][] full = new boolean[g.length][];
    for (int i = 0; i < g.length; i++) {
      full[i] = new boolean[g[i].length];
      for (int k = 0; k < g[i].length; k++) {
        full[i][k] = g[i][k] >= tau;
      }
    }
    return full;
  }

  /** np.quantile(a, q) with the default 'linear' method over the flattened array. */
  static double quantile(double[][] a, double q) {
    double[] flat = Arrays.stream(a).flatMapToDouble(Arrays::stream).sorted().toArray();
    double pos = q * (flat.length - 1);
    int lo = (int) Math.floor(pos);
    int hi = Math.min(lo + 1, flat.length - 1);
    return flat[lo] + (flat[hi] - flat[lo]) * (pos - lo);
  }
}
