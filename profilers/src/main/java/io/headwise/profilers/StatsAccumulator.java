package io.headwise.profilers;

import io.headwise.graph.AttentionMap;
import io.headwise.schemas.HeadStat;
import io.headwise.schemas.StatNames;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Mergeable partial sums of per-head statistics, keyed by (length bucket, layer, statistic): for
 * each head the sum over counted queries (double), the number of counted queries, and for ratio
 * statistics the denominator sum. Merging adds; the final value is sum / count (sum / denominator
 * for stream deviation), which weights batches and partitions by their query counts exactly as the
 * contract asks. {@code head_output_energy} is not summed on its own: it is read off each layer's
 * stream deviation denominator when values or partials are produced.
 */
public final class StatsAccumulator implements Serializable {
  private static final long serialVersionUID = 1L;

  /** Sums for one (bucket, layer, stat). */
  private static final class Cell implements Serializable {
    private static final long serialVersionUID = 1L;
    final double[] sum;
    final double[] denominator;
    double count;

    Cell(int heads, boolean ratio) {
      sum = new double[heads];
      denominator = ratio ? new double[heads] : null;
    }
  }

  private final TreeMap<String, Cell> cells = new TreeMap<>();

  /** Adds one batch's outputs under {@code bucket}. */
  public void add(int bucket, BatchStats stats) {
    for (StatOutput s : stats.statOutputs()) {
      float[][] sums = stats.sums().get(s.tensor());
      float[] counts = stats.counts().get(s.counts());
      float[][] den = s.denominator() == null ? null : stats.denominators().get(s.denominator());
      int heads = sums[0].length;
      Cell cell =
          cells.computeIfAbsent(
              key(bucket, s.layer(), s.stat()), k -> new Cell(heads, den != null));
      for (int b = 0; b < sums.length; b++) {
        cell.count += counts[b];
        for (int h = 0; h < heads; h++) {
          cell.sum[h] += sums[b][h];
          if (den != null) {
            cell.denominator[h] += den[b][h];
          }
        }
      }
    }
  }

  /**
   * Adds per-head sums computed elsewhere (e.g. by {@link JvmStatsReducer}) for one (bucket, layer,
   * stat); {@code denominators} is null for plain means.
   */
  public void add(
      int bucket, int layer, String stat, double[] sums, double count, double[] denominators) {
    Cell cell =
        cells.computeIfAbsent(
            key(bucket, layer, stat), k -> new Cell(sums.length, denominators != null));
    cell.count += count;
    for (int h = 0; h < sums.length; h++) {
      cell.sum[h] += sums[h];
      if (denominators != null) {
        cell.denominator[h] += denominators[h];
      }
    }
  }

  /** Adds another accumulator's sums into this one. */
  public StatsAccumulator merge(StatsAccumulator other) {
    for (Map.Entry<String, Cell> e : other.cells.entrySet()) {
      Cell o = e.getValue();
      Cell c =
          cells.computeIfAbsent(e.getKey(), k -> new Cell(o.sum.length, o.denominator != null));
      c.count += o.count;
      for (int h = 0; h < o.sum.length; h++) {
        c.sum[h] += o.sum[h];
        if (o.denominator != null) {
          c.denominator[h] += o.denominator[h];
        }
      }
    }
    return this;
  }

  /** One head's partial sums, for merging outside this class (e.g. a Spark aggregation). */
  public record Partial(
      int bucket, int layer, int head, String stat, double sum, double count, Double denominator) {}

  /** Every head's partial sums. */
  public List<Partial> partials() {
    List<Partial> out = new ArrayList<>();
    for (Map.Entry<String, Cell> e : withDerived().entrySet()) {
      String[] k = e.getKey().split("\\|", 3);
      Cell c = e.getValue();
      for (int h = 0; h < c.sum.length; h++) {
        out.add(
            new Partial(
                Integer.parseInt(k[0]),
                Integer.parseInt(k[1]),
                h,
                k[2],
                c.sum[h],
                c.count,
                c.denominator == null ? null : c.denominator[h]));
      }
    }
    return out;
  }

  public boolean isEmpty() {
    return cells.isEmpty();
  }

  /**
   * Final values as head_stats rows; statistics with no counted query (e.g. echo_score in a bucket
   * without repeat probes) are left out.
   */
  public List<HeadStat> toHeadStats(String modelId, String runId, AttentionMap map) {
    List<HeadStat> out = new ArrayList<>();
    for (Map.Entry<String, Cell> e : withDerived().entrySet()) {
      String[] k = e.getKey().split("\\|", 3);
      int bucket = Integer.parseInt(k[0]);
      int layer = Integer.parseInt(k[1]);
      String stat = k[2];
      Cell c = e.getValue();
      if (c.count <= 0) {
        continue;
      }
      int group = map.block(layer).groupSize();
      for (int h = 0; h < c.sum.length; h++) {
        double value =
            c.denominator != null
                ? (c.denominator[h] > 0 ? c.sum[h] / c.denominator[h] : 0.0)
                : c.sum[h] / c.count;
        out.add(
            new HeadStat(
                modelId, runId, layer, h, h / group, bucket, Math.round(c.count), stat, value));
      }
    }
    return out;
  }

  /**
   * The cells plus, per (bucket, layer) with stream deviation, {@link
   * StatNames#HEAD_OUTPUT_ENERGY}: stream deviation's denominator Σ ‖o_i‖² (the same for every sink
   * count and window) over its query count, so it is read off a deviation cell, not summed again.
   */
  private TreeMap<String, Cell> withDerived() {
    TreeMap<String, Cell> out = new TreeMap<>(cells);
    for (Map.Entry<String, Cell> e : cells.entrySet()) {
      String[] k = e.getKey().split("\\|", 3);
      Cell c = e.getValue();
      if (c.denominator == null || StatNames.deviationSinks(k[2]).isEmpty()) {
        continue;
      }
      String energyKey =
          key(Integer.parseInt(k[0]), Integer.parseInt(k[1]), StatNames.HEAD_OUTPUT_ENERGY);
      if (!out.containsKey(energyKey)) {
        Cell energy = new Cell(c.sum.length, false);
        System.arraycopy(c.denominator, 0, energy.sum, 0, c.sum.length);
        energy.count = c.count;
        out.put(energyKey, energy);
      }
    }
    return out;
  }

  private static String key(int bucket, int layer, String stat) {
    return bucket + "|" + layer + "|" + stat;
  }
}
