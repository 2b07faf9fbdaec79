package io.headwise.profilers;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnxruntime.OrtException;
import io.headwise.graph.AttentionBlock;
import io.headwise.graph.AttentionMap;
import io.headwise.graph.AttentionProbe;
import io.headwise.graph.FunctionInliner;
import io.headwise.graph.ModelInputs;
import io.headwise.graph.ModelLimits;
import io.headwise.graph.OnnxModel;
import io.headwise.schemas.HeadwiseException;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Verifies, per attention layer, that the model's score path is what the tiled core rebuilds: on a
 * probe batch of two rows (one full, one with left padding and a hole in its mask), for every valid
 * query the softmax input equals {@code scale · Q·Kᵀ} on every key the rebuilt mask allows (valid
 * keys — by the attention mask, or as the first Σ mask keys of the row for a core that takes valid
 * lengths ({@link KeyMask}) — and for a causal core keys not later than the query) within 1e-4 of
 * the product's magnitude (float32 cores; four units of rounding of a float16 or bfloat16 core's
 * type, whose scores are rounded to it), and the probabilities on every other key are below 1e-7. A
 * layer whose scores carry anything else (a positional bias such as ALiBi, soft-capping, a sliding
 * window shorter than the probe) fails and keeps the untiled route. A window longer than the
 * probe's {@value #LENGTH} tokens is not seen by this check. A model the probe batch cannot run (a
 * static sequence length) has no verified layer. Results are cached per model id.
 */
final class ScorePathCheck {
  static final int LENGTH = 12;
  private static final double SCORE_TOLERANCE = 1e-4;
  // 4 · 2^-11 and 4 · 2^-8: a float16/bfloat16 score is rounded at least once (product, scale)
  private static final double FLOAT16_SCORE_TOLERANCE = 4 * 0x1p-11;
  private static final double BFLOAT16_SCORE_TOLERANCE = 4 * 0x1p-8;
  private static final double MASKED_MASS = 1e-7;
  private static final Map<String, Map<Integer, KeyMask>> CACHE = new ConcurrentHashMap<>();

  private ScorePathCheck() {}

  /**
   * Which keys the tiled core lets a query see (besides causality): those the attention mask marks
   * valid, as a decomposed export masks them, or the first Σ mask keys of the row, as fused cores
   * that take valid lengths compute it (GroupQueryAttention's {@code seqlens_k} = Σ mask − 1 in the
   * model builder's graphs, Attention's 1-D {@code mask_index}). The two agree on right-padded
   * rows; the probe's left padding and hole tell them apart.
   */
  enum KeyMask {
    ATTENTION_MASK,
    LENGTH
  }

  /** The verified layers and the key mask each one's scores follow. */
  static Map<Integer, KeyMask> verifiedLayers(OnnxModel model, AttentionMap map) {
    return CACHE.computeIfAbsent(model.modelId() + "|" + model.source(), k -> check(model, map));
  }

  private static Map<Integer, KeyMask> check(OnnxModel model, AttentionMap map) {
    ModelProto proto = FunctionInliner.inline(model.proto());
    ModelInputs inputs = ModelInputs.of(proto.getGraph());
    LinkedHashSet<String> exposed = new LinkedHashSet<>();
    for (AttentionBlock b : map.blocks()) {
      exposed.add(b.scoresTensor());
      exposed.add(b.probabilitiesTensor());
      exposed.add(b.queryTensor());
      exposed.add(b.keyTransposedTensor());
    }
    Map<String, String> names = new HashMap<>();
    ModelProto probe = AttentionProbe.exposeAsFloat(proto, exposed, names);
    int t = LENGTH;
    long vocab = ModelLimits.of(proto.getGraph(), inputs).vocabSize();
    Random rnd = new Random(23);
    long[][] ids = new long[2][t];
    long[][] mask = new long[2][t];
    for (int b = 0; b < 2; b++) {
      for (int j = 0; j < t; j++) {
        ids[b][j] = 1 + rnd.nextInt((int) Math.max(1, Math.min(vocab > 2 ? vocab - 1 : 100, 1000)));
        mask[b][j] = b == 1 && inputs.attentionMask().isPresent() && (j < 2 || j == t / 2) ? 0 : 1;
      }
    }
    AttentionProbe.Values probed;
    try {
      probed = AttentionProbe.run(model, probe, inputs, names, ids, mask);
    } catch (OrtException | HeadwiseException e) {
      // a graph the probe batch cannot run (e.g. a static sequence length): no layer is verified,
      // all stay untiled
      return Map.of();
    }
    Map<String, float[]> values = probed.values();
    Map<String, long[]> shapes = probed.shapes();
    Map<Integer, KeyMask> ok = new TreeMap<>();
    for (AttentionBlock b : map.blocks()) {
      for (KeyMask kind : KeyMask.values()) {
        if (matches(b, values, shapes, mask, kind)) {
          ok.put(b.layer(), kind);
          break;
        }
      }
    }
    return Map.copyOf(ok);
  }

  private static boolean matches(
      AttentionBlock b,
      Map<String, float[]> values,
      Map<String, long[]> shapes,
      long[][] mask,
      KeyMask kind) {
    long[] qs = shapes.get(b.queryTensor());
    long[] ks = shapes.get(b.keyTransposedTensor());
    long[] ss = shapes.get(b.scoresTensor());
    long[] ps = shapes.get(b.probabilitiesTensor());
    int batch = mask.length;
    int t = mask[0].length;
    int heads = b.numHeads();
    if (qs.length != 4
        || ks.length != 4
        || ps.length != 4
        || !Arrays.equals(ss, ps)
        || ps[0] != batch
        || ps[1] != heads
        || ps[2] != t
        || ps[3] != t
        || qs[1] != heads
        || qs[2] != t) {
      return false;
    }
    int d = (int) qs[3];
    double tolerance =
        switch (b.probabilitiesType()) {
          case FLOAT16 -> FLOAT16_SCORE_TOLERANCE;
          case BFLOAT16 -> BFLOAT16_SCORE_TOLERANCE;
          default -> SCORE_TOLERANCE;
        };
    boolean kIsK = b.qkTransposesKey();
    int kHeads = (int) ks[1];
    int kBatch = (int) ks[0];
    if (kHeads != heads && kHeads != 1
        || (kIsK ? ks[2] != t || ks[3] != d : ks[2] != d || ks[3] != t)) {
      return false;
    }
    float[] q = values.get(b.queryTensor());
    float[] k = values.get(b.keyTransposedTensor());
    float[] s = values.get(b.scoresTensor());
    float[] p = values.get(b.probabilitiesTensor());
    for (int bi = 0; bi < batch; bi++) {
      long length = Arrays.stream(mask[bi]).sum();
      for (int h = 0; h < heads; h++) {
        int kBase = ((kBatch == 1 ? 0 : bi) * kHeads + (kHeads == 1 ? 0 : h)) * t * d;
        int qBase = (bi * heads + h) * t * d;
        int sBase = (bi * heads + h) * t * t;
        for (int i = 0; i < t; i++) {
          if (mask[bi][i] == 0) {
            continue;
          }
          for (int j = 0; j < t; j++) {
            boolean valid = kind == KeyMask.LENGTH ? j < length : mask[bi][j] != 0;
            boolean allowed = valid && (!b.causal() || j <= i);
            if (allowed) {
              double dot = 0;
              double mag = 0;
              for (int x = 0; x < d; x++) {
                double term =
                    (double) q[qBase + i * d + x]
                        * (kIsK ? k[kBase + j * d + x] : k[kBase + x * t + j]);
                dot += term;
                mag += Math.abs(term);
              }
              double expected = b.scale() * dot;
              if (Math.abs(s[sBase + i * t + j] - expected)
                  > tolerance * (1 + Math.abs(b.scale()) * mag)) {
                return false;
              }
            } else if (p[sBase + i * t + j] > MASKED_MASS) {
              return false;
            }
          }
        }
      }
    }
    return true;
  }
}
