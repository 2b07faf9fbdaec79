package io.headwise.jobs.cli;

import java.util.List;
import java.util.Locale;

/**
 * The demo's printed table of {@code local_mass_16} per layer and head. A head_stats value is a
 * mean over the valid queries of one length bucket, so the share across buckets is the mean
 * weighted by each bucket's {@code n_queries}: summing the buckets (as an earlier version did)
 * printed "shares" up to the number of buckets.
 */
final class LocalMassSummary {
  /** One head_stats row of the statistic: a bucket's mean and the queries it averages over. */
  record BucketValue(int layer, int head, long nQueries, double value) {}

  private LocalMassSummary() {}

  /** Per layer and head, the query-weighted mean over buckets; NaN where a head has no queries. */
  static double[][] weightedMeans(List<BucketValue> rows) {
    int layers = rows.stream().mapToInt(r -> r.layer() + 1).max().orElse(0);
    int heads = rows.stream().mapToInt(r -> r.head() + 1).max().orElse(0);
    double[][] sum = new double[layers][heads];
    long[][] n = new long[layers][heads];
    for (BucketValue r : rows) {
      sum[r.layer()][r.head()] += r.value() * r.nQueries();
      n[r.layer()][r.head()] += r.nQueries();
    }
    for (int l = 0; l < layers; l++) {
      for (int h = 0; h < heads; h++) {
        sum[l][h] = n[l][h] == 0 ? Double.NaN : sum[l][h] / n[l][h];
      }
    }
    return sum;
  }

  /**
   * The table as printed by {@code headwise demo}: a header line, a column line, one line per
   * layer.
   */
  static String render(List<BucketValue> rows) {
    double[][] v = weightedMeans(rows);
    StringBuilder s =
        new StringBuilder(
            "local_mass_16 per layer (rows) and head (columns): share of attention within"
                + " 16 tokens, mean over all profiled queries (length buckets weighted by their query counts)\n");
    s.append("layer");
    int heads = v.length == 0 ? 0 : v[0].length;
    for (int h = 0; h < heads; h++) {
      s.append(String.format(Locale.ROOT, " %5s", "h" + h));
    }
    s.append('\n');
    for (int l = 0; l < v.length; l++) {
      s.append(String.format(Locale.ROOT, "%-5d", l));
      for (double x : v[l]) {
        s.append(String.format(Locale.ROOT, " %5.2f", x));
      }
      s.append('\n');
    }
    return s.toString();
  }
}
