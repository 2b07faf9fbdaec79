package io.headwise.export.attention;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnxruntime.OrtSession;
import io.headwise.graph.AttentionLocator;
import io.headwise.graph.AttentionMap;
import io.headwise.graph.AttentionProbe;
import io.headwise.graph.OnnxModel;
import io.headwise.graph.OrtModels;
import io.headwise.graph.TestModels;
import io.headwise.schemas.PlanMeta;
import io.headwise.schemas.PlanRow;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * H2O budget heads in the decode graph against a plain Java H2O cache, step by step: fed the
 * graph's own Q, K and V of every layer, the reference attends densely over its cache and the new
 * tokens, accumulates attention per cached token (mean over a kv head's query heads), keeps the R
 * most recent plus the B − R heaviest, and never re-admits. The graph's cache carries no positions:
 * each cached key is matched bit for bit to the one token whose key it is, the cached tokens must
 * equal the reference's after every step, the min(R, n) most recent must be the last entries in
 * position order (the layout docs/decode.md promises), and the scores agree within 1e-4. Heads with
 * budgets 16 and 10 (recent 6) share a layer's budget group, so the smaller pads its rows with dead
 * entries.
 */
class H2oDecodeTest {
  /** One cached token of one kv head. */
  static final class Entry {
    final long position;
    final float[] key;
    double score;

    Entry(long position, float[] key) {
      this.position = position;
      this.key = key;
    }
  }

  /**
   * The positions of a budget cache's entries for kv head {@code head} of its group, in layout
   * order, −1 for a dead entry (score −∞: a row a head below the group's largest budget does not
   * use): each live cached key [1, H_g, kept, D] is matched bit for bit to the token whose key it
   * is ({@code seen}: the keys of that kv head by position); exactly one must match.
   */
  static long[] cachedPositions(
      float[] cacheKeys,
      float[] scores,
      int head,
      int kept,
      int headDim,
      List<float[]> seen,
      String where) {
    long[] out = new long[kept];
    for (int j = 0; j < kept; j++) {
      if (scores[head * kept + j] == Float.NEGATIVE_INFINITY) {
        out[j] = -1;
        continue;
      }
      float[] row =
          Arrays.copyOfRange(
              cacheKeys, (head * kept + j) * headDim, (head * kept + j + 1) * headDim);
      long found = -1;
      for (int p = 0; p < seen.size(); p++) {
        if (Arrays.equals(seen.get(p), row)) {
          assertEquals(-1, found, where + ": entry " + j + " matches two tokens' keys");
          found = p;
        }
      }
      assertTrue(found >= 0, where + ": entry " + j + " is no token's key");
      out[j] = found;
    }
    return out;
  }

  /** The live entries of {@link #cachedPositions}, in layout order. */
  static long[] live(long[] positions) {
    return Arrays.stream(positions).filter(p -> p >= 0).toArray();
  }

  /**
   * The layout engines rely on (docs/decode.md): the last min(R, n) entries are the most recent
   * tokens, oldest first, after a cache has seen n tokens (no dead entry among them), and any dead
   * entries (−1) follow the live heavy hitters.
   */
  static void assertRecentLast(long[] positions, long recent, long seen, String where) {
    long r = Math.min(recent, seen);
    boolean dead = false;
    for (int j = 0; j < positions.length - r; j++) { // live heavy hitters, then dead entries
      assertTrue(
          !dead || positions[j] < 0,
          where + ": heavy hitter " + j + " after a dead entry in " + Arrays.toString(positions));
      dead |= positions[j] < 0;
    }
    for (int i = 0; i < r; i++) {
      assertEquals(
          seen - r + i,
          positions[(int) (positions.length - r + i)],
          where + ": recent entry " + i + " of " + r + " in " + Arrays.toString(positions));
    }
  }

  /**
   * A 24-token prompt (compressed at once), and a 1-token prompt as generate and evaluate --decode
   * start (the first calls keep fewer than R tokens, so no heavy hitter is chosen).
   */
  @ParameterizedTest
  @ValueSource(ints = {24, 1})
  void budgetHeadsFollowTheH2oReferenceStepByStep(int prompt) throws Exception {
    OnnxModel plain = OnnxModel.load(TestModels.stories260k());
    OnnxModel decoder = OnnxModel.load(DecodeGraphTest.pastModel());
    AttentionMap plainMap = AttentionLocator.locate(plain);
    AttentionMap map = AttentionLocator.locate(decoder);
    PlanMeta meta = AttentionTestSupport.meta(plain, plainMap, "h2o", "h2o");
    String g = PlanRow.KV_HEAD;
    List<PlanRow> rows =
        AttentionTestSupport.rows(
            plainMap,
            g,
            (l, h) ->
                switch ((h + l) % 3) {
                  case 0 -> AttentionTestSupport.budget(meta, g, l, h, 16, 6);
                  case 1 -> AttentionTestSupport.budget(meta, g, l, h, 10, 6);
                  default -> AttentionTestSupport.streaming(meta, g, l, h, 2, 6, 0);
                });
    DecodeGraphExporter.DecodeGraph graph =
        DecodeGraphExporter.rewrite(decoder, map, plain, meta, rows);
    assertTrue(
        graph.groups().stream().anyMatch(DecodeCacheGroup::padded),
        "budgets 16 and 10 (recent 6) share a group");
    Set<String> exposedTensors = new LinkedHashSet<>();
    for (DecodeGraphExporter.LayerTensors t : graph.layers()) {
      exposedTensors.addAll(List.of(t.query(), t.newKey()));
    }
    Map<String, String> names = new HashMap<>();
    ModelProto exposed = AttentionProbe.exposeAsFloat(graph.proto(), exposedTensors, names);
    long[] tokens = DecodeGraphTest.tokens(72);
    int headDim = 8;
    // reference caches per (layer, group, kv head in group)
    Map<String, List<Entry>> caches = new HashMap<>();
    Map<String, List<float[]>> seenKeys = new HashMap<>();
    double worstScore = 0;
    double smallestGap = Double.POSITIVE_INFINITY;
    int evictions = 0;
    try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
      options.setIntraOpNumThreads(1);
      try (OrtSession session = OrtModels.session(decoder, exposed, options);
          DecodeLoop loop = new DecodeLoop(session, exposed.getGraph())) {
        int fed = 0;
        while (fed < tokens.length) {
          int s = fed == 0 ? prompt : 1;
          long[] chunk = Arrays.copyOfRange(tokens, fed, fed + s);
          loop.stepAll(chunk);
          for (DecodeCacheGroup group : graph.groups()) {
            if (!group.budget()) {
              continue;
            }
            DecodeGraphExporter.LayerTensors t = graph.layers().get(group.layer());
            float[] q = loop.output(names.get(t.query()));
            float[] k = loop.output(names.get(t.newKey()));
            int heads = t.kvHeads().length;
            int kvHeads = (int) (k.length / ((long) s * headDim));
            float[] cacheKeys = loop.output(DecodeCacheGroup.PRESENT + group.name("key"));
            float[] scores = loop.output(DecodeCacheGroup.PRESENT + group.name("scores"));
            int kept = scores.length / group.kvHeads().size();
            for (int gi = 0; gi < group.kvHeads().size(); gi++) {
              int kv = group.kvHeads().get(gi);
              String key = group.layer() + "/" + kv;
              List<Entry> cache = caches.computeIfAbsent(key, x -> new ArrayList<>());
              List<float[]> seen = seenKeys.computeIfAbsent(key, x -> new ArrayList<>());
              for (int r = 0; r < s; r++) {
                float[] kr = new float[headDim];
                System.arraycopy(k, (kv * s + r) * headDim, kr, 0, headDim);
                cache.add(new Entry(fed + r, kr));
                seen.add(kr);
              }
              List<Integer> readers = new ArrayList<>();
              for (int h = 0; h < heads; h++) {
                if (t.kvHeads()[h] == kv) {
                  readers.add(h);
                }
              }
              for (int h : readers) {
                for (int r = 0; r < s; r++) {
                  long pos = fed + r;
                  double[] logit = new double[cache.size()];
                  double max = Double.NEGATIVE_INFINITY;
                  for (int j = 0; j < cache.size(); j++) {
                    Entry e = cache.get(j);
                    if (e.position > pos) {
                      logit[j] = Double.NEGATIVE_INFINITY;
                      continue;
                    }
                    double dot = 0;
                    for (int x = 0; x < headDim; x++) {
                      dot += q[(h * s + r) * headDim + x] * e.key[x];
                    }
                    logit[j] = t.scale() * dot;
                    max = Math.max(max, logit[j]);
                  }
                  double sum = 0;
                  for (double l : logit) {
                    sum += Math.exp(l - max);
                  }
                  for (int j = 0; j < cache.size(); j++) {
                    cache.get(j).score += Math.exp(logit[j] - max) / sum / readers.size();
                  }
                }
              }
              long newest = fed + s - 1;
              long budget = group.budgetTokens().get(gi);
              long recent = group.recentTokens();
              if (cache.size() > budget) {
                List<Entry> old = new ArrayList<>();
                List<Entry> keep = new ArrayList<>();
                for (Entry e : cache) {
                  (newest - e.position < recent ? keep : old).add(e);
                }
                old.sort(Comparator.<Entry>comparingDouble(e -> -e.score));
                int heavy = (int) (budget - keep.size());
                keep.addAll(old.subList(0, heavy));
                if (heavy < old.size()) {
                  smallestGap =
                      Math.min(smallestGap, old.get(heavy - 1).score - old.get(heavy).score);
                }
                evictions += cache.size() - keep.size();
                cache.clear();
                cache.addAll(keep);
              }
              long[] expected = cache.stream().mapToLong(e -> e.position).sorted().toArray();
              String where =
                  "layer " + group.layer() + ", kv head " + kv + " after position " + newest;
              long[] inLayout = cachedPositions(cacheKeys, scores, gi, kept, headDim, seen, where);
              Map<Long, Float> actualScore = new HashMap<>();
              for (int j = 0; j < kept; j++) {
                actualScore.put(inLayout[j], scores[gi * kept + j]);
              }
              // the layout: live heavy hitters, dead entries, then the recent tokens in order
              assertRecentLast(inLayout, recent, newest + 1, where);
              long[] actual = live(inLayout);
              long[] sortedActual = actual.clone();
              Arrays.sort(sortedActual);
              assertArrayEquals(expected, sortedActual, where);
              for (Entry e : cache) {
                worstScore = Math.max(worstScore, Math.abs(actualScore.get(e.position) - e.score));
              }
            }
          }
          fed += s;
          long expectedBytes = 0;
          for (DecodeCacheGroup group : graph.groups()) {
            // a budget group's tensors: its largest budget's entries per head (dead rows included)
            long n = group.cachedTokens(fed);
            // budget groups: key, value and a float score per entry (no position); the others:
            // key and value per entry per head, one int64 position per entry of the group
            long perEntry = group.budget() ? 2L * headDim * 4 + 4 : 2L * headDim * 4;
            expectedBytes += n * group.kvHeads().size() * perEntry + (group.budget() ? 0 : n * 8);
          }
          assertEquals(expectedBytes, loop.cacheBytes(), "cache bytes after " + fed + " tokens");
        }
      }
    }
    System.out.println(
        "h2o decode vs reference: cached tokens equal at every step (recent ones last, in order), max |score difference| "
            + worstScore
            + ", "
            + evictions
            + " evictions, smallest heavy-hitter gap "
            + smallestGap);
    assertTrue(evictions > 100, "the budgets must evict: " + evictions);
    assertTrue(smallestGap > 1e-4, "selection too close to a tie: " + smallestGap);
    assertTrue(worstScore <= 1e-4, "scores differ by " + worstScore);
  }
}
