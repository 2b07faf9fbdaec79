package io.headwise.planners;

import io.headwise.schemas.HeadStat;
import io.headwise.schemas.HeadwiseException;
import io.headwise.schemas.StatNames;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.Set;
import java.util.SortedSet;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Immutable, indexed view of one model's {@code head_stats} rows, with the bucket and window
 * look-ups the planners share.
 *
 * <p>Shape: layers, query heads and kv heads are derived from the rows (max index + 1); every row
 * must map query head h to kv head ⌊h/g⌋ with g = numHeads/numKvHeads. Rows for the same (stat,
 * bucket, layer, head) — from several stats runs or repeated writes — are merged as a mean weighted
 * by {@code nQueries} (plain mean when all weights are 0), as DESIGN.md prescribes for merging
 * batches; {@link #statsRunId()} then lists every run id, comma-separated.
 *
 * <p>A statistic is usable at a bucket when it is present for every (layer, query head); {@link
 * #buckets(String)} lists those buckets only.
 *
 * <p>Windowed statistics ({@link WindowedStat}) are interpolated between grid windows log-linearly
 * in w. At bucket length T a causal band of width w ≥ T covers every key, so T is an exact anchor:
 * deviation 0, coverage 1, local mass 1. Below the smallest grid window local mass falls linearly
 * to 0 at w = 0, coverage falls linearly to {@code sink_mass_S} when present (else is held), and
 * deviation is held at its smallest-window value (a band of width 0 has no measured deviation;
 * holding it under-states the error only below the first grid point, w = 1 by default).
 *
 * <p>About 500 lines on purpose: one immutable index (built and merged in {@link #of}) and the
 * look-ups over it that the planners share; the window families and their interpolated curves are
 * {@link WindowedStat} and {@link WindowCurve}.
 */
public final class HeadStatsTable {
  private final String modelId;
  private final String statsRunId;
  private final int numLayers;
  private final int numHeads;
  private final int numKvHeads;
  private final SortedSet<Integer> allBuckets;

  /** stat → bucket → value per cell (layer * numHeads + head), NaN where absent. */
  private final Map<String, Map<Integer, double[]>> values;

  /** stat → bucket → nQueries per cell. */
  private final Map<String, Map<Integer, long[]>> weights;

  /**
   * bucket → calibration source → samples, as the profile run recorded them (empty when unknown:
   * runs written before it was recorded, hand-built tables).
   */
  private final Map<Integer, Map<String, Long>> bucketSources;

  private HeadStatsTable(
      String modelId,
      String statsRunId,
      int numLayers,
      int numHeads,
      int numKvHeads,
      SortedSet<Integer> allBuckets,
      Map<String, Map<Integer, double[]>> values,
      Map<String, Map<Integer, long[]>> weights,
      Map<Integer, Map<String, Long>> bucketSources) {
    this.modelId = modelId;
    this.statsRunId = statsRunId;
    this.numLayers = numLayers;
    this.numHeads = numHeads;
    this.numKvHeads = numKvHeads;
    this.allBuckets = allBuckets;
    this.values = values;
    this.weights = weights;
    this.bucketSources = bucketSources;
  }

  /**
   * Builds the table; throws {@link HeadwiseException} for empty input, mixed model ids or a bad
   * GQA mapping.
   */
  public static HeadStatsTable of(List<HeadStat> rows) {
    if (rows == null || rows.isEmpty()) {
      throw new HeadwiseException(
          "the head stats table is empty: run the profile step for this model first");
    }
    String modelId = rows.get(0).modelId();
    SortedSet<String> runIds = new TreeSet<>();
    int maxLayer = -1;
    int maxHead = -1;
    int maxKv = -1;
    for (HeadStat r : rows) {
      if (!modelId.equals(r.modelId())) {
        throw new HeadwiseException(
            "head stats mix model ids '"
                + modelId
                + "' and '"
                + r.modelId()
                + "': a plan is made for one model; filter the head_stats table by model_id");
      }
      if (r.layer() < 0 || r.head() < 0 || r.kvHead() < 0 || r.lengthBucket() <= 0) {
        throw new HeadwiseException(
            "head stats row has a negative index or a non-positive length bucket: " + r);
      }
      if (!Double.isFinite(r.value())) {
        throw new HeadwiseException(
            "head stats row has a non-finite value (re-run the profile step): " + r);
      }
      runIds.add(r.runId());
      maxLayer = Math.max(maxLayer, r.layer());
      maxHead = Math.max(maxHead, r.head());
      maxKv = Math.max(maxKv, r.kvHead());
    }
    int numLayers = maxLayer + 1;
    int numHeads = maxHead + 1;
    int numKvHeads = maxKv + 1;
    if (numHeads % numKvHeads != 0) {
      throw new HeadwiseException(
          "head stats have "
              + numHeads
              + " query heads and "
              + numKvHeads
              + " kv heads, which is not a whole group size; check the kv_head column of model "
              + modelId);
    }
    int g = numHeads / numKvHeads;
    int cells = numLayers * numHeads;
    Map<String, Map<Integer, double[][]>> acc = new HashMap<>();
    Map<String, Map<Integer, long[]>> counts = new HashMap<>();
    SortedSet<Integer> buckets = new TreeSet<>();
    for (HeadStat r : rows) {
      if (r.kvHead() != r.head() / g) {
        throw new HeadwiseException(
            "head stats row maps query head "
                + r.head()
                + " to kv head "
                + r.kvHead()
                + " but group size "
                + g
                + " ("
                + numHeads
                + "/"
                + numKvHeads
                + ") gives kv head "
                + (r.head() / g)
                + "; the kv_head column of model "
                + modelId
                + " is inconsistent");
      }
      buckets.add(r.lengthBucket());
      int cell = r.layer() * numHeads + r.head();
      // acc[0] = Σ n·v, acc[1] = Σ v over rows, acc[2] = row count
      double[][] a =
          acc.computeIfAbsent(r.stat(), k -> new HashMap<>())
              .computeIfAbsent(r.lengthBucket(), k -> new double[3][cells]);
      long[] c =
          counts
              .computeIfAbsent(r.stat(), k -> new HashMap<>())
              .computeIfAbsent(r.lengthBucket(), k -> new long[cells]);
      long w = Math.max(0, r.nQueries());
      a[0][cell] += w * r.value();
      a[1][cell] += r.value();
      a[2][cell] += 1;
      c[cell] += w;
    }
    Map<String, Map<Integer, double[]>> values = new HashMap<>();
    for (var byStat : acc.entrySet()) {
      Map<Integer, double[]> out = new TreeMap<>();
      for (var byBucket : byStat.getValue().entrySet()) {
        double[][] a = byBucket.getValue();
        long[] c = counts.get(byStat.getKey()).get(byBucket.getKey());
        double[] v = new double[cells];
        for (int i = 0; i < cells; i++) {
          v[i] = a[2][i] == 0 ? Double.NaN : c[i] > 0 ? a[0][i] / c[i] : a[1][i] / a[2][i];
        }
        out.put(byBucket.getKey(), v);
      }
      values.put(byStat.getKey(), out);
    }
    return new HeadStatsTable(
        modelId,
        String.join(",", runIds),
        numLayers,
        numHeads,
        numKvHeads,
        Collections.unmodifiableSortedSet(buckets),
        values,
        counts,
        Map.of());
  }

  /**
   * This table with the calibration sources of each bucket (bucket → source → samples), for the
   * evidence planners record per head.
   */
  public HeadStatsTable withBucketSources(Map<Integer, Map<String, Long>> sources) {
    Map<Integer, Map<String, Long>> copy = new TreeMap<>();
    sources.forEach((b, m) -> copy.put(b, Collections.unmodifiableMap(new TreeMap<>(m))));
    return new HeadStatsTable(
        modelId,
        statsRunId,
        numLayers,
        numHeads,
        numKvHeads,
        allBuckets,
        values,
        weights,
        Collections.unmodifiableMap(copy));
  }

  /** The calibration sources of a bucket's samples (source → samples); empty when unknown. */
  public Map<String, Long> bucketSources(int bucket) {
    return bucketSources.getOrDefault(bucket, Map.of());
  }

  public String modelId() {
    return modelId;
  }

  /**
   * The stats run id, or the comma-separated sorted run ids when rows of several runs were merged.
   */
  public String statsRunId() {
    return statsRunId;
  }

  public int numLayers() {
    return numLayers;
  }

  public int numHeads() {
    return numHeads;
  }

  public int numKvHeads() {
    return numKvHeads;
  }

  /** Query heads per kv head, g = numHeads / numKvHeads. */
  public int groupSize() {
    return numHeads / numKvHeads;
  }

  /** The kv head ⌊h/g⌋ that query head h reads. */
  public int kvHeadOf(int head) {
    return head / groupSize();
  }

  /** Every length bucket that appears in any row. */
  public SortedSet<Integer> buckets() {
    return allBuckets;
  }

  /** Every statistic name present in the table. */
  public Set<String> statNames() {
    return Collections.unmodifiableSet(values.keySet());
  }

  /** Buckets at which {@code stat} is present for every (layer, query head). */
  public SortedSet<Integer> buckets(String stat) {
    SortedSet<Integer> out = new TreeSet<>();
    Map<Integer, double[]> byBucket = values.get(stat);
    if (byBucket == null) {
      return out;
    }
    for (var e : byBucket.entrySet()) {
      if (Arrays.stream(e.getValue()).noneMatch(Double::isNaN)) {
        out.add(e.getKey());
      }
    }
    return out;
  }

  /** True when {@code stat} is present for every head at one bucket at least. */
  public boolean has(String stat) {
    return !buckets(stat).isEmpty();
  }

  /** True when {@code stat} is present for every head at {@code bucket}. */
  public boolean has(String stat, int bucket) {
    return buckets(stat).contains(bucket);
  }

  /**
   * Throws a {@link HeadwiseException} unless {@code stat} is complete at one bucket at least;
   * {@code producedBy} tells the user which probe or profile option produces it.
   */
  public void require(String method, String stat, String producedBy) {
    if (!has(stat)) {
      throw new HeadwiseException(
          "method "
              + method
              + " needs statistic '"
              + stat
              + "' for every head, but the"
              + " head stats of model "
              + modelId
              + " (run "
              + statsRunId
              + ") "
              + (values.containsKey(stat) ? "have it only for some heads" : "do not have it")
              + "; it is produced by "
              + producedBy);
    }
  }

  /**
   * The value of {@code stat} for (layer, query head) at {@code bucket}; HeadwiseException when
   * absent.
   */
  public double value(int layer, int head, int bucket, String stat) {
    double v = valueOrNaN(layer, head, bucket, stat);
    if (Double.isNaN(v)) {
      throw new HeadwiseException(
          missing(stat, layer, head)
              + " at length bucket "
              + bucket
              + " (buckets with it: "
              + buckets(stat)
              + ")");
    }
    return v;
  }

  /** The value of {@code stat}, or NaN when absent. */
  public double valueOrNaN(int layer, int head, int bucket, String stat) {
    checkHead(layer, head);
    Map<Integer, double[]> byBucket = values.get(stat);
    if (byBucket == null) {
      return Double.NaN;
    }
    double[] v = byBucket.get(bucket);
    return v == null ? Double.NaN : v[layer * numHeads + head];
  }

  /**
   * The mean of {@code stat} for (layer, query head) over every bucket where it is present,
   * weighted by query count (plain mean when no counts were recorded). For probe statistics that
   * are measured at one probe length.
   */
  public double meanOverBuckets(int layer, int head, String stat) {
    checkHead(layer, head);
    Map<Integer, double[]> byBucket = values.get(stat);
    double sum = 0;
    double weight = 0;
    double plainSum = 0;
    int plainCount = 0;
    if (byBucket != null) {
      for (var e : byBucket.entrySet()) {
        double v = e.getValue()[layer * numHeads + head];
        if (Double.isNaN(v)) {
          continue;
        }
        long w = weights.get(stat).get(e.getKey())[layer * numHeads + head];
        sum += w * v;
        weight += w;
        plainSum += v;
        plainCount++;
      }
    }
    if (plainCount == 0) {
      throw new HeadwiseException(missing(stat, layer, head));
    }
    return weight > 0 ? sum / weight : plainSum / plainCount;
  }

  /**
   * The bucket nearest {@code length} on a log scale among {@code candidates}; ties go to the
   * longer bucket.
   */
  public static int nearestBucket(SortedSet<Integer> candidates, int length) {
    if (candidates.isEmpty()) {
      throw new IllegalArgumentException("no candidate buckets");
    }
    int best = -1;
    double bestDistance = Double.POSITIVE_INFINITY;
    for (int b : candidates) {
      double d = Math.abs(Math.log((double) b / length));
      if (d <= bestDistance + 1e-12) {
        best = b;
        bestDistance = Math.min(d, bestDistance);
      }
    }
    return best;
  }

  /**
   * The bucket of the whole table nearest {@code length} (log scale, ties to the longer bucket).
   */
  public int nearestBucket(int length) {
    return nearestBucket(allBuckets, length);
  }

  /** Sink counts S for which the family has at least one complete window at some bucket. */
  public SortedSet<Integer> sinkCounts(WindowedStat family) {
    SortedSet<Integer> out = new TreeSet<>();
    for (String stat : values.keySet()) {
      OptionalInt s = family.sinks(stat);
      if (s.isPresent() && has(stat)) {
        out.add(s.getAsInt());
      }
    }
    return out;
  }

  /** Windows of the family (at sink count S) that are complete at {@code bucket}, ascending. */
  public List<Integer> windows(WindowedStat family, int sinks, int bucket) {
    List<Integer> out = new ArrayList<>();
    for (String stat : values.keySet()) {
      OptionalInt w = family.window(stat, sinks);
      if (w.isPresent() && has(stat, bucket)) {
        out.add(w.getAsInt());
      }
    }
    Collections.sort(out);
    return out;
  }

  /** Buckets at which the family (at sink count S) has at least one complete window. */
  public SortedSet<Integer> buckets(WindowedStat family, int sinks) {
    SortedSet<Integer> out = new TreeSet<>();
    for (int b : allBuckets) {
      if (!windows(family, sinks, b).isEmpty()) {
        out.add(b);
      }
    }
    return out;
  }

  /**
   * The family's value for (layer, query head) at {@code bucket} and an arbitrary band width {@code
   * window} (in tokens, may be fractional), interpolated as described in the class comment.
   */
  public double interpolate(
      WindowedStat family, int sinks, int layer, int head, int bucket, double window) {
    return curve(family, sinks, bucket).at(layer, head, window);
  }

  /**
   * The family's window grid at {@code bucket} for every head, ready for fast repeated
   * interpolation; throws {@link HeadwiseException} when the family has no complete window there.
   */
  public WindowCurve curve(WindowedStat family, int sinks, int bucket) {
    List<Integer> grid = windows(family, sinks, bucket);
    if (grid.isEmpty()) {
      throw new HeadwiseException(
          "head stats of model "
              + modelId
              + " have no "
              + family.name().toLowerCase()
              + (family == WindowedStat.LOCAL_MASS ? "" : " statistic with sink count " + sinks)
              + " at length bucket "
              + bucket
              + " for every head");
    }
    List<Integer> used = new ArrayList<>();
    for (int w : grid) {
      if (w < bucket) {
        used.add(w);
      }
    }
    int cells = numLayers * numHeads;
    double[] windows = new double[used.size() + 1];
    double[][] v = new double[cells][used.size() + 1];
    double[] atZero = new double[cells];
    for (int i = 0; i < used.size(); i++) {
      windows[i] = used.get(i);
      double[] column = values.get(family.statName(sinks, used.get(i))).get(bucket);
      for (int c = 0; c < cells; c++) {
        v[c][i] = column[c];
      }
    }
    windows[used.size()] = bucket;
    if (family == WindowedStat.STREAM_DEVIATION) {
      weighByOutputEnergy(v, bucket);
    }
    double[] sinkMass =
        family == WindowedStat.COVERAGE && has(StatNames.sinkMass(sinks), bucket)
            ? values.get(StatNames.sinkMass(sinks)).get(bucket)
            : null;
    for (int c = 0; c < cells; c++) {
      v[c][used.size()] = family.whenEverythingKept();
      switch (family) {
        case LOCAL_MASS:
          atZero[c] = 0.0;
          break;
        case COVERAGE:
          atZero[c] = sinkMass != null ? sinkMass[c] : v[c][0];
          break;
        default:
          atZero[c] = v[c][0];
      }
    }
    if (family == WindowedStat.STREAM_DEVIATION) {
      scaleByLayerOutputKl(windows, v, atZero, sinks, bucket);
    }
    return new WindowCurve(family, bucket, numHeads, windows, v, atZero);
  }

  /**
   * True when stream deviation is read weighted by {@code head_output_energy} (profiles since the
   * statistic was added record it with every stream deviation; older ones read unweighted).
   */
  public boolean deviationWeighted() {
    return has(StatNames.HEAD_OUTPUT_ENERGY);
  }

  /** How a plan names the stream-deviation cost it read at sink count {@code sinks}. */
  public String deviationCostName(int sinks) {
    return "stream_deviation_s"
        + sinks
        + (deviationWeighted() ? " × head_output_energy / layer mean" : "")
        + (deviationLayerScaled(sinks) ? " × layer_output_kl per unit of layer deviation" : "");
  }

  /**
   * Scales each head's relative stream deviation Σ‖Δo‖²/Σ‖o‖² by its share of the layer's head
   * output energy ({@code head_output_energy} over the layer's mean), when profiled: the weighted
   * sum over a layer's heads is then H × the relative deviation of the layer's concatenated
   * attention output (heads occupy disjoint coordinates of it), so a head whose output is small
   * next to its neighbours' no longer counts as much as one that carries the layer. The output
   * projection is not in it (each head's W_O slice is taken as equally strong).
   */
  private void weighByOutputEnergy(double[][] v, int bucket) {
    if (!has(StatNames.HEAD_OUTPUT_ENERGY, bucket)) {
      return;
    }
    double[] energy = values.get(StatNames.HEAD_OUTPUT_ENERGY).get(bucket);
    for (int l = 0; l < numLayers; l++) {
      double mean = 0;
      for (int h = 0; h < numHeads; h++) {
        mean += energy[l * numHeads + h] / numHeads;
      }
      for (int h = 0; h < numHeads && mean > 0; h++) {
        double w = energy[l * numHeads + h] / mean;
        for (int i = 0; i < v[l * numHeads + h].length; i++) {
          v[l * numHeads + h][i] *= w;
        }
      }
    }
  }

  /** The windows of {@code layer_output_kl_s{S}_w{w}} complete at {@code bucket}, ascending. */
  private List<Integer> layerKlWindows(int sinks, int bucket) {
    List<Integer> out = new ArrayList<>();
    for (String stat : values.keySet()) {
      if (StatNames.layerOutputKlSinks(stat).orElse(-1) == sinks && has(stat, bucket)) {
        out.add(StatNames.layerOutputKlWindow(stat).getAsInt());
      }
    }
    Collections.sort(out);
    return out;
  }

  /**
   * True when stream deviation at sink count {@code sinks} is read scaled by each layer's measured
   * {@code layer_output_kl} (profiles of decoders since it was added).
   */
  public boolean deviationLayerScaled(int sinks) {
    return allBuckets.stream().anyMatch(b -> !layerKlWindows(sinks, b).isEmpty());
  }

  /**
   * Scales the (energy-weighted) deviations of each layer at {@code bucket} by s_l = Σ_w
   * layer_output_kl_l(w) / Σ_w Σ_h deviation_h(w) over the windows w where the layer's KL was
   * measured: a head's cost becomes its part of the layer's deviation times the model's measured
   * output KL per unit of that layer's deviation. Stream deviation is local to a layer; how much
   * the rest of the model amplifies it is what MoA's gradient-weighted cost carries (its per-layer
   * factor) and what a uniform deviation scale across layers misses: on stories260k the KL per unit
   * deviation falls about tenfold from the first layer to the last (docs/results.md (h)). One
   * factor serves every window, an approximation: the ratio is measured at two windows only and
   * differs between them (docs/statistics.md). No-op when the bucket has no layer KL.
   */
  private void scaleByLayerOutputKl(
      double[] windows, double[][] v, double[] atZero, int sinks, int bucket) {
    List<Integer> ws = layerKlWindows(sinks, bucket);
    if (ws.isEmpty()) {
      return;
    }
    // the unscaled deviations at the measured windows, read before v is scaled in place
    WindowCurve curve =
        new WindowCurve(WindowedStat.STREAM_DEVIATION, bucket, numHeads, windows, v, atZero);
    double[] scale = new double[numLayers];
    for (int l = 0; l < numLayers; l++) {
      double kl = 0;
      double deviation = 0;
      for (int w : ws) {
        // the layer's value is written for each of its query heads
        kl += values.get(StatNames.layerOutputKl(sinks, w)).get(bucket)[l * numHeads];
        for (int h = 0; h < numHeads; h++) {
          deviation += curve.at(l, h, w);
        }
      }
      scale[l] = deviation > 0 ? kl / deviation : 1.0;
    }
    for (int l = 0; l < numLayers; l++) {
      for (int h = 0; h < numHeads; h++) {
        int c = l * numHeads + h;
        atZero[c] *= scale[l];
        for (int i = 0; i < v[c].length; i++) {
          v[c][i] *= scale[l];
        }
      }
    }
  }

  /** A value of one (layer, query head). */
  public interface PerHead {
    double at(int layer, int head);
  }

  /**
   * For every (layer, kv head), layer-major, the largest {@code perHead} over the kv head's query
   * heads: how a planner scores a kv group by its most demanding head.
   */
  public double[] kvGroupMax(PerHead perHead) {
    int g = groupSize();
    double[] out = new double[numLayers * numKvHeads];
    for (int l = 0; l < numLayers; l++) {
      for (int k = 0; k < numKvHeads; k++) {
        double max = Double.NEGATIVE_INFINITY;
        for (int h = k * g; h < (k + 1) * g; h++) {
          max = Math.max(max, perHead.at(l, h));
        }
        out[l * numKvHeads + k] = max;
      }
    }
    return out;
  }

  /** The start of the error for a statistic a head does not have. */
  private String missing(String stat, int layer, int head) {
    return "head stats of model "
        + modelId
        + " have no '"
        + stat
        + "' for layer "
        + layer
        + ", head "
        + head;
  }

  private void checkHead(int layer, int head) {
    if (layer < 0 || layer >= numLayers || head < 0 || head >= numHeads) {
      throw new IndexOutOfBoundsException(
          "layer " + layer + ", head " + head + " outside " + numLayers + " x " + numHeads);
    }
  }
}
