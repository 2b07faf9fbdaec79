package io.headwise.planners.bench;

import io.headwise.schemas.HeadStat;
import io.headwise.schemas.StatNames;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * Seeded synthetic head statistics with LLM-like head types, for benchmarks: each query head mixes
 * a local component (deviation exp(−w/τ), τ log-uniform in [2, 400] tokens) with a diffuse one ((1
 * − w/T)^γ) in proportion to its "retrieval-ness" r (most heads local, a few retrieval heads), with
 * a per-layer magnitude. Writes stream deviation and coverage at sink count 4, local mass, sink
 * mass, heavy-hitter shares, entropy, and echo/induction scores that grow with r.
 */
public final class SyntheticHeadStats {
  /** Default windows grid of the profile step. */
  public static final int[] WINDOWS = {1, 4, 16, 64, 256, 1024, 4096};

  private SyntheticHeadStats() {}

  /**
   * Rows for {@code layers} × {@code heads} query heads ({@code kvHeads} kv heads) at each bucket.
   */
  public static List<HeadStat> generate(
      String modelId, int layers, int heads, int kvHeads, int[] buckets, long seed) {
    Random random = new Random(seed);
    int g = heads / kvHeads;
    List<HeadStat> rows = new ArrayList<>();
    for (int l = 0; l < layers; l++) {
      double layerMagnitude = 0.3 + 0.7 * random.nextDouble();
      for (int h = 0; h < heads; h++) {
        double u = random.nextDouble();
        double r =
            u < 0.7
                ? 0.05 * random.nextDouble()
                : u < 0.9 ? 0.1 + 0.4 * random.nextDouble() : 0.6 + 0.4 * random.nextDouble();
        double tau = Math.exp(Math.log(2) + random.nextDouble() * (Math.log(400) - Math.log(2)));
        double gamma = 0.5 + 2 * random.nextDouble();
        double sinkShare = 0.1 + 0.6 * random.nextDouble() * (1 - r);
        for (int bucket : buckets) {
          long q = (long) bucket * 8;
          for (int w : WINDOWS) {
            if (w > bucket) {
              continue;
            }
            double local = Math.exp(-w / tau);
            double diffuse = Math.pow(Math.max(0.0, 1.0 - (double) w / bucket), gamma);
            double noise = 1 + 0.05 * random.nextGaussian();
            double dev =
                w >= bucket
                    ? 0.0
                    : Math.max(0.0, layerMagnitude * ((1 - r) * local + r * diffuse) * noise);
            double dropped = (1 - sinkShare) * ((1 - r) * local + r * diffuse);
            double coverage = w >= bucket ? 1.0 : Math.min(1.0, Math.max(0.0, 1.0 - dropped));
            rows.add(row(modelId, l, h, g, bucket, q, StatNames.streamDeviation(4, w), dev));
            rows.add(row(modelId, l, h, g, bucket, q, StatNames.coverage(4, w), coverage));
            rows.add(
                row(
                    modelId,
                    l,
                    h,
                    g,
                    bucket,
                    q,
                    StatNames.localMass(w),
                    w >= bucket
                        ? 1.0
                        : (1 - sinkShare) * ((1 - r) * (1 - local) + r * (double) w / bucket)));
          }
          rows.add(row(modelId, l, h, g, bucket, q, StatNames.sinkMass(1), sinkShare * 0.8));
          rows.add(row(modelId, l, h, g, bucket, q, StatNames.sinkMass(4), sinkShare));
          for (int p : new int[] {1, 5, 10, 20}) {
            double share =
                sinkShare
                    + (1 - sinkShare) * ((1 - r) * p / 100.0 + r * Math.min(1.0, 3.0 * p / 100.0));
            rows.add(row(modelId, l, h, g, bucket, q, StatNames.heavyHitterShare(p), share));
          }
          rows.add(
              row(
                  modelId,
                  l,
                  h,
                  g,
                  bucket,
                  q,
                  StatNames.ENTROPY_MEAN,
                  Math.log(1 + tau) * (1 - r) + r * Math.log(bucket) * 0.8));
          rows.add(
              row(
                  modelId,
                  l,
                  h,
                  g,
                  bucket,
                  q,
                  StatNames.ECHO_SCORE,
                  0.02 + 0.3 * r * random.nextDouble()));
          rows.add(row(modelId, l, h, g, bucket, q, StatNames.INDUCTION_SCORE, 0.02 + 0.9 * r * r));
        }
      }
    }
    return rows;
  }

  private static HeadStat row(
      String modelId, int layer, int head, int g, int bucket, long q, String stat, double value) {
    return new HeadStat(modelId, "synthetic", layer, head, head / g, bucket, q, stat, value);
  }
}
