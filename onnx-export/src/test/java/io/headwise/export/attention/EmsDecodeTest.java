package io.headwise.export.attention;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnxruntime.OrtSession;
import io.headwise.graph.AttentionLocator;
import io.headwise.graph.AttentionMap;
import io.headwise.graph.AttentionProbe;
import io.headwise.graph.OnnxModel;
import io.headwise.graph.OrtModels;
import io.headwise.graph.TestModels;
import io.headwise.schemas.HeadwiseException;
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
 * EMS budget heads (evict-then-merge as the ems planner reconstructs it) in the decode graph
 * against a plain Java reference of the policy, step by step: fed the graph's own Q, K and V of
 * every layer, the reference attends over its kept tokens plus the merge slot (mean key, logit + ln
 * count, mean value), accumulates attention per kept token, keeps the R most recent plus the B − R
 * heaviest, and adds every evicted token's key and value to the slot's sums. Its kept tokens must
 * equal the graph's after every step (the graph carries no positions: cached keys are matched bit
 * for bit to their tokens, and the most recent must be last, in order), and the attention output,
 * the slot's sums and count agree within 1e-4; the merge slot changes the logits against the same
 * budgets without it (which are H2O's, bit for bit); the caches hold the group's largest B entries
 * plus one slot per kv head; heads with budgets 16 and 10 (recent 4) share a padded group in every
 * layer, heads with budget 12 (recent 2) have their own, and every head keeps its own merged count.
 */
class EmsDecodeTest {
  private static final double TOLERANCE = 1e-4;
  private static final int HEAD_DIM = 8;

  /** One cached token of one kv head. */
  static final class Entry {
    final long position;
    final float[] key;
    final float[] value;
    double score;

    Entry(long position, float[] key, float[] value) {
      this.position = position;
      this.key = key;
      this.value = value;
    }
  }

  /** The reference cache of one kv head: kept tokens and the merge slot. */
  static final class HeadCache {
    final List<Entry> kept = new ArrayList<>();
    final double[] sumKey = new double[HEAD_DIM];
    final double[] sumValue = new double[HEAD_DIM];
    long count;
  }

  private static List<PlanRow> rows(PlanMeta meta, AttentionMap map, String method, int merge) {
    return AttentionTestSupport.rows(
        map,
        PlanRow.KV_HEAD,
        (l, h) -> {
          int budget =
              switch ((h + l) % 3) {
                case 0 -> 16;
                case 1 -> 10;
                default -> 12;
              };
          // budgets 16 and 10 share a recent count, so they share a (padded) group
          int recent =
              switch ((h + l) % 3) {
                case 0, 1 -> 4;
                default -> 2;
              };
          String params =
              method.equals("ems")
                  ? "{\"recent_budget_tokens\":" + recent + ",\"merge_tokens\":" + merge + "}"
                  : "{\"recent_budget_tokens\":" + recent + "}";
          return new PlanRow(
              meta.planId(),
              meta.modelId(),
              meta.statsRunId(),
              method,
              PlanRow.KV_HEAD,
              l,
              h,
              PlanRow.BUDGET,
              0,
              0,
              0,
              budget,
              params);
        });
  }

  @Test
  void mergeSlotsFollowTheEmsReferenceStepByStep() throws Exception {
    OnnxModel plain = OnnxModel.load(TestModels.stories260k());
    OnnxModel decoder = OnnxModel.load(DecodeGraphTest.pastModel());
    AttentionMap plainMap = AttentionLocator.locate(plain);
    AttentionMap map = AttentionLocator.locate(decoder);
    PlanMeta meta = AttentionTestSupport.meta(plain, plainMap, "ems", "ems");
    DecodeGraphExporter.DecodeGraph graph =
        DecodeGraphExporter.rewrite(decoder, map, plain, meta, rows(meta, plainMap, "ems", 1));
    assertTrue(graph.groups().stream().allMatch(g -> g.budget() && g.compensation()));
    assertEquals(2 * plainMap.numLayers(), graph.groups().size(), "a group per recent count");
    assertEquals(
        plainMap.numLayers(),
        graph.groups().stream().filter(DecodeCacheGroup::padded).count(),
        "budgets 16 and 10 share a group in every layer");
    Set<String> exposedTensors = new LinkedHashSet<>();
    for (DecodeGraphExporter.LayerTensors t : graph.layers()) {
      exposedTensors.addAll(List.of(t.query(), t.newKey(), t.newValue(), t.output()));
    }
    Map<String, String> names = new HashMap<>();
    ModelProto exposed = AttentionProbe.exposeAsFloat(graph.proto(), exposedTensors, names);
    long[] tokens = DecodeGraphTest.tokens(64);
    int prompt = 24;
    Map<String, HeadCache> caches = new HashMap<>();
    Map<String, List<float[]>> seenKeys = new HashMap<>();
    double worstOutput = 0;
    double worstSum = 0;
    double smallestGap = Double.POSITIVE_INFINITY;
    double largestSlotShare = 0;
    long merged = 0;
    try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
      options.setIntraOpNumThreads(1);
      try (OrtSession session = OrtModels.session(decoder, exposed, options);
          DecodeLoop loop = new DecodeLoop(session, exposed.getGraph())) {
        int fed = 0;
        while (fed < tokens.length) {
          int s = fed == 0 ? prompt : 1;
          loop.stepAll(Arrays.copyOfRange(tokens, fed, fed + s));
          for (DecodeCacheGroup group : graph.groups()) {
            DecodeGraphExporter.LayerTensors t = graph.layers().get(group.layer());
            float[] q = loop.output(names.get(t.query()));
            float[] k = loop.output(names.get(t.newKey()));
            float[] v = loop.output(names.get(t.newValue()));
            float[] attended = loop.output(names.get(t.output()));
            int heads = t.kvHeads().length;
            float[] cacheKeys = loop.output(DecodeCacheGroup.PRESENT + group.name("key"));
            float[] scores = loop.output(DecodeCacheGroup.PRESENT + group.name("scores"));
            float[] sumKey = loop.output(DecodeCacheGroup.PRESENT + group.name("sum_key"));
            float[] sumValue = loop.output(DecodeCacheGroup.PRESENT + group.name("sum_value"));
            float[] dropped = loop.output(DecodeCacheGroup.PRESENT + group.name("dropped"));
            assertEquals(group.kvHeads().size(), dropped.length, "one count per kv head");
            int kept = scores.length / group.kvHeads().size();
            for (int gi = 0; gi < group.kvHeads().size(); gi++) {
              int kv = group.kvHeads().get(gi);
              HeadCache cache =
                  caches.computeIfAbsent(group.layer() + "/" + kv, x -> new HeadCache());
              List<float[]> seen =
                  seenKeys.computeIfAbsent(group.layer() + "/" + kv, x -> new ArrayList<>());
              for (int r = 0; r < s; r++) {
                float[] kr = new float[HEAD_DIM];
                float[] vr = new float[HEAD_DIM];
                System.arraycopy(k, (kv * s + r) * HEAD_DIM, kr, 0, HEAD_DIM);
                System.arraycopy(v, (kv * s + r) * HEAD_DIM, vr, 0, HEAD_DIM);
                cache.kept.add(new Entry(fed + r, kr, vr));
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
                  int n = cache.kept.size();
                  double[] logit = new double[n + 1];
                  double max = Double.NEGATIVE_INFINITY;
                  for (int j = 0; j <= n; j++) {
                    double[] key = new double[HEAD_DIM];
                    if (j < n) {
                      Entry e = cache.kept.get(j);
                      if (e.position > pos) {
                        logit[j] = Double.NEGATIVE_INFINITY;
                        continue;
                      }
                      for (int x = 0; x < HEAD_DIM; x++) {
                        key[x] = e.key[x];
                      }
                    } else if (cache.count == 0) {
                      logit[j] = Double.NEGATIVE_INFINITY;
                      continue;
                    } else {
                      for (int x = 0; x < HEAD_DIM; x++) {
                        key[x] = cache.sumKey[x] / cache.count;
                      }
                    }
                    double dot = 0;
                    for (int x = 0; x < HEAD_DIM; x++) {
                      dot += q[(h * s + r) * HEAD_DIM + x] * key[x];
                    }
                    logit[j] = t.scale() * dot + (j == n ? Math.log(cache.count) : 0);
                    max = Math.max(max, logit[j]);
                  }
                  double sum = 0;
                  for (double l : logit) {
                    sum += Math.exp(l - max);
                  }
                  double[] out = new double[HEAD_DIM];
                  for (int j = 0; j <= n; j++) {
                    double p = Math.exp(logit[j] - max) / sum;
                    if (p == 0) {
                      continue;
                    }
                    for (int x = 0; x < HEAD_DIM; x++) {
                      out[x] +=
                          p
                              * (j < n
                                  ? cache.kept.get(j).value[x]
                                  : cache.sumValue[x] / cache.count);
                    }
                    if (j < n) {
                      cache.kept.get(j).score += p / readers.size();
                    } else {
                      largestSlotShare = Math.max(largestSlotShare, p);
                    }
                  }
                  for (int x = 0; x < HEAD_DIM; x++) {
                    worstOutput =
                        Math.max(
                            worstOutput, Math.abs(out[x] - attended[(h * s + r) * HEAD_DIM + x]));
                  }
                }
              }
              long newest = fed + s - 1;
              long budget = group.budgetTokens().get(gi);
              long recent = group.recentTokens();
              if (cache.kept.size() > budget) {
                List<Entry> old = new ArrayList<>();
                List<Entry> keep = new ArrayList<>();
                for (Entry e : cache.kept) {
                  (newest - e.position < recent ? keep : old).add(e);
                }
                old.sort(Comparator.<Entry>comparingDouble(e -> -e.score));
                int heavy = (int) (budget - keep.size());
                keep.addAll(old.subList(0, heavy));
                if (heavy < old.size() && heavy > 0) {
                  smallestGap =
                      Math.min(smallestGap, old.get(heavy - 1).score - old.get(heavy).score);
                }
                for (Entry e : old.subList(heavy, old.size())) {
                  for (int x = 0; x < HEAD_DIM; x++) {
                    cache.sumKey[x] += e.key[x];
                    cache.sumValue[x] += e.value[x];
                  }
                  cache.count++;
                  merged++;
                }
                cache.kept.clear();
                cache.kept.addAll(keep);
              }
              long[] expected = cache.kept.stream().mapToLong(e -> e.position).sorted().toArray();
              String where =
                  "layer " + group.layer() + ", kv head " + kv + " after position " + newest;
              long[] inLayout =
                  H2oDecodeTest.cachedPositions(cacheKeys, scores, gi, kept, HEAD_DIM, seen, where);
              H2oDecodeTest.assertRecentLast(inLayout, recent, newest + 1, where);
              long[] actual = H2oDecodeTest.live(inLayout);
              Arrays.sort(actual);
              assertArrayEquals(expected, actual, where);
              assertEquals(cache.count, dropped[gi], "merged tokens of " + where);
              for (int x = 0; x < HEAD_DIM; x++) {
                // relative: the sums grow with the merged count
                worstSum =
                    Math.max(
                        worstSum,
                        Math.max(
                            Math.abs(cache.sumKey[x] - sumKey[gi * HEAD_DIM + x])
                                / Math.max(1, Math.abs(cache.sumKey[x])),
                            Math.abs(cache.sumValue[x] - sumValue[gi * HEAD_DIM + x])
                                / Math.max(1, Math.abs(cache.sumValue[x]))));
              }
            }
          }
          fed += s;
          // keys, values and a float score per entry (no position; a head below the group's
          // largest budget pads with dead entries); one key/value slot and one float count per kv
          // head
          long expectedBytes = 0;
          long ceiling = 0;
          for (DecodeCacheGroup group : graph.groups()) {
            long n = group.cachedTokens(fed);
            int hg = group.kvHeads().size();
            expectedBytes += n * hg * (2L * HEAD_DIM * 4 + 4) + hg * (2L * HEAD_DIM * 4 + 4);
            ceiling += (group.capacity() + 1) * hg * (2L * HEAD_DIM * 4 + 4);
            assertTrue(n <= group.capacity());
          }
          assertEquals(expectedBytes, loop.cacheBytes(), "cache bytes after " + fed + " tokens");
          assertTrue(loop.cacheBytes() <= ceiling, "more than budget + 1 entries per head");
        }
      }
    }
    System.out.println(
        "ems decode vs reference: kept tokens equal at every step (recent ones last, in order), max |output difference| "
            + worstOutput
            + ", max relative |sum difference| "
            + worstSum
            + ", "
            + merged
            + " tokens merged, smallest heavy-hitter gap "
            + smallestGap
            + ", largest merge-slot probability "
            + largestSlotShare);
    assertTrue(merged > 100, "the budgets must evict: " + merged);
    assertTrue(largestSlotShare > 0.05, "the slot must carry attention: " + largestSlotShare);
    assertTrue(smallestGap > 1e-4, "selection too close to a tie: " + smallestGap);
    assertTrue(worstOutput <= TOLERANCE, "attention outputs differ by " + worstOutput);
    assertTrue(worstSum <= TOLERANCE, "merge sums differ by " + worstSum);
  }

  @Test
  void theMergeSlotChangesTheLogitsAndWithoutItTheCacheIsH2os() throws Exception {
    OnnxModel plain = OnnxModel.load(TestModels.stories260k());
    OnnxModel decoder = OnnxModel.load(DecodeGraphTest.pastModel());
    AttentionMap plainMap = AttentionLocator.locate(plain);
    AttentionMap map = AttentionLocator.locate(decoder);
    PlanMeta ems = AttentionTestSupport.meta(plain, plainMap, "ems", "ems");
    PlanMeta h2o = AttentionTestSupport.meta(plain, plainMap, "h2o", "h2o");
    long[] tokens = DecodeGraphTest.tokens(56);
    int prompt = 20;
    DecodeGraphExporter.DecodeGraph merging =
        DecodeGraphExporter.rewrite(decoder, map, plain, ems, rows(ems, plainMap, "ems", 1));
    DecodeGraphExporter.DecodeGraph dropping =
        DecodeGraphExporter.rewrite(decoder, map, plain, ems, rows(ems, plainMap, "ems", 0));
    DecodeGraphExporter.DecodeGraph h2oGraph =
        DecodeGraphExporter.rewrite(decoder, map, plain, h2o, rows(h2o, plainMap, "h2o", 0));
    // H2O and merge-free EMS groups carry no slot
    for (DecodeGraphExporter.DecodeGraph g : List.of(dropping, h2oGraph)) {
      assertFalse(g.groups().stream().anyMatch(DecodeCacheGroup::compensation));
      assertFalse(
          g.proto().getGraph().getInputList().stream()
              .anyMatch(i -> i.getName().endsWith(".sum_key")));
    }
    float[][] withSlot = DecodeGraphTest.decode(decoder, merging.proto(), tokens, prompt, l -> {});
    float[][] without = DecodeGraphTest.decode(decoder, dropping.proto(), tokens, prompt, l -> {});
    float[][] asH2o = DecodeGraphTest.decode(decoder, h2oGraph.proto(), tokens, prompt, l -> {});
    double slotEffect = DecodeGraphTest.maxDifference(withSlot, without);
    System.out.println(
        "ems decode: max |logit difference| with vs without the merge slot " + slotEffect);
    assertEquals(0.0, DecodeGraphTest.maxDifference(without, asH2o));
    assertTrue(slotEffect > 0.05, "the merge slot does not change the logits: " + slotEffect);
  }

  @Test
  void emsPlansAreRefusedByThePrefillSimulationAndWithoutTheirRunTimeParams() {
    OnnxModel plain = OnnxModel.load(TestModels.stories260k());
    OnnxModel decoder = OnnxModel.load(DecodeGraphTest.pastModel());
    AttentionMap plainMap = AttentionLocator.locate(plain);
    AttentionMap map = AttentionLocator.locate(decoder);
    PlanMeta meta = AttentionTestSupport.meta(plain, plainMap, "ems-p", "ems");
    HeadwiseException prefill =
        assertThrows(
            HeadwiseException.class,
            () ->
                HeadwiseAttentionExporter.rewrite(
                    plain, plainMap, meta, rows(meta, plainMap, "ems", 1)));
    assertTrue(prefill.getMessage().contains("export --decode"), prefill.getMessage());
    assertTrue(prefill.getMessage().contains("layer 0, kv head 0 of plan ems-p"));
    // an EMS plan written before the run-time policy existed (budgets only): refused, not guessed
    List<PlanRow> old =
        AttentionTestSupport.rows(
            plainMap,
            PlanRow.KV_HEAD,
            (l, h) ->
                new PlanRow(
                    "ems-p",
                    plain.modelId(),
                    meta.statsRunId(),
                    "ems",
                    PlanRow.KV_HEAD,
                    l,
                    h,
                    PlanRow.BUDGET,
                    0,
                    0,
                    0,
                    12,
                    "{\"diffuseness\":0.5}"));
    HeadwiseException stale =
        assertThrows(
            HeadwiseException.class,
            () -> DecodeGraphExporter.rewrite(decoder, map, plain, meta, old));
    assertTrue(stale.getMessage().contains("merge_tokens"), stale.getMessage());
    assertTrue(stale.getMessage().contains("plan it again"), stale.getMessage());
  }
}
