package io.headwise.export.attention;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnxruntime.OrtSession;
import io.headwise.graph.AttentionLocator;
import io.headwise.graph.AttentionMap;
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
import org.junit.jupiter.api.Test;

/**
 * H2O budget heads in the decode graph against a plain Java H2O cache, step by step: fed the
 * graph's own Q, K and V of every layer, the reference attends densely over its cache and the new
 * tokens, accumulates attention per cached token (mean over a kv head's query heads), keeps the R
 * most recent plus the B − R heaviest, and never re-admits; its cache positions must equal the
 * graph's after every step and its scores agree within 1e-4.
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

  @Test
  void budgetHeadsFollowTheH2oReferenceStepByStep() throws Exception {
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
                  case 1 -> AttentionTestSupport.budget(meta, g, l, h, 10, 2);
                  default -> AttentionTestSupport.streaming(meta, g, l, h, 2, 6, 0);
                });
    DecodeGraphExporter.DecodeGraph graph =
        DecodeGraphExporter.rewrite(decoder, map, plain, meta, rows);
    Set<String> exposedTensors = new LinkedHashSet<>();
    for (DecodeGraphExporter.LayerTensors t : graph.layers()) {
      exposedTensors.addAll(List.of(t.query(), t.newKey()));
    }
    Map<String, String> names = new HashMap<>();
    ModelProto exposed = AttentionLocator.exposeAsFloat(graph.proto(), exposedTensors, names);
    long[] tokens = DecodeGraphTest.tokens(72);
    int prompt = 24;
    int headDim = 8;
    // reference caches per (layer, group, kv head in group)
    Map<String, List<Entry>> caches = new HashMap<>();
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
            long[] positions = loop.longOutput(DecodeCacheGroup.PRESENT + group.name("positions"));
            float[] scores = loop.output(DecodeCacheGroup.PRESENT + group.name("scores"));
            int kept = positions.length / group.kvHeads().size();
            for (int gi = 0; gi < group.kvHeads().size(); gi++) {
              int kv = group.kvHeads().get(gi);
              String key = group.layer() + "/" + kv;
              List<Entry> cache = caches.computeIfAbsent(key, x -> new ArrayList<>());
              for (int r = 0; r < s; r++) {
                float[] kr = new float[headDim];
                System.arraycopy(k, (kv * s + r) * headDim, kr, 0, headDim);
                cache.add(new Entry(fed + r, kr));
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
              if (cache.size() > group.budgetTokens()) {
                List<Entry> old = new ArrayList<>();
                List<Entry> keep = new ArrayList<>();
                for (Entry e : cache) {
                  (newest - e.position < group.recentTokens() ? keep : old).add(e);
                }
                old.sort(Comparator.<Entry>comparingDouble(e -> -e.score));
                int heavy = (int) (group.budgetTokens() - keep.size());
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
              long[] actual = Arrays.copyOfRange(positions, gi * kept, (gi + 1) * kept);
              Map<Long, Float> actualScore = new HashMap<>();
              for (int j = 0; j < kept; j++) {
                actualScore.put(actual[j], scores[gi * kept + j]);
              }
              long[] sortedActual = actual.clone();
              Arrays.sort(sortedActual);
              assertArrayEquals(
                  expected,
                  sortedActual,
                  "layer " + group.layer() + ", kv head " + kv + " after position " + newest);
              for (Entry e : cache) {
                worstScore = Math.max(worstScore, Math.abs(actualScore.get(e.position) - e.score));
              }
            }
          }
          fed += s;
          long expectedBytes = 0;
          for (DecodeCacheGroup group : graph.groups()) {
            long n = group.cachedTokens(fed);
            long perEntry = group.budget() ? 2L * headDim * 4 + 8 + 4 : 2L * headDim * 4;
            expectedBytes += n * group.kvHeads().size() * perEntry + (group.budget() ? 0 : n * 8);
          }
          assertEquals(expectedBytes, loop.cacheBytes(), "cache bytes after " + fed + " tokens");
        }
      }
    }
    System.out.println(
        "h2o decode vs reference: positions equal at every step, max |score difference| "
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
