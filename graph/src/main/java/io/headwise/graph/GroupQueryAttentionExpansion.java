package io.headwise.graph;

import java.util.List;

/**
 * {@code com.microsoft::GroupQueryAttention} (ONNX Runtime GenAI's model builder) as a decomposed
 * core.
 *
 * <p>Inputs: query (packed Q/K/V when key and value are empty), key, value [B, S, N·D];
 * past_key/past_value [B, Hkv, P, D] (optional, not a shared buffer: present = past ⧺ new);
 * seqlens_k [B] (valid length − 1); total_sequence_length (only checked by the op);
 * cos_cache/sin_cache [maxLen, r/2] when {@code do_rotary=1}. Query i of batch row b has position P
 * + i; it sees key j iff j ≤ P + i (when causal), P + i − j ≤ {@code local_window_size} (when > 0;
 * ONNX Runtime ignores 0) and j ≤ seqlens_k[b]. ONNX Runtime leaves the outputs of padded query
 * rows (i > seqlens_k[b]) undefined (it reads score columns it never wrote); the expansion lets
 * them see the valid keys, which no valid position reads (attention is causal). Scores are {@code
 * scale}·Q·Kᵀ (default 1/√D), soft-capped as softcap·tanh(s/softcap) when {@code softcap} > 0.
 * position_ids, attention_bias, head_sink, KV-cache quantization, smooth_softmax, a shared
 * past/present buffer (sliding_window_cache) and the output_qk output are refused by name.
 */
final class GroupQueryAttentionExpansion {
  private GroupQueryAttentionExpansion() {}

  static void expand(FusedNode n, FusedCoreBuilder b, GraphIndex index) {
    GraphBuilder g = b.graph();
    int heads = (int) n.requiredInt("num_heads");
    int kvHeads = (int) n.requiredInt("kv_num_heads");
    if (heads <= 0 || kvHeads <= 0 || heads % kvHeads != 0) {
      throw n.refuse(
          "num_heads=" + heads + " is not a positive multiple of kv_num_heads=" + kvHeads);
    }
    double scaleAttr = n.floatAttr("scale", 0);
    boolean rotary = n.intAttrIn("do_rotary", 0, 0, 1) == 1;
    boolean interleaved = n.intAttrIn("rotary_interleaved", 0, 0, 1) == 1;
    long window = n.intAttr("local_window_size", -1);
    double softcap = n.floatAttr("softcap", 0);
    boolean causal = n.intAttrIn("causal", 1, 0, 1) == 1;
    n.intAttrIn("smooth_softmax", 0, 0);
    n.intAttrIn("qk_output", 0, 0);
    n.intAttrIn("sliding_window_cache", 0, 0);
    n.stringAttrIn("k_quant_type", "NONE", "NONE");
    n.stringAttrIn("v_quant_type", "NONE", "NONE");
    n.ignore("kv_cache_bit_width"); // only read when a cache is quantized, refused above
    n.floatAttr("qk_norm_epsilon", 1e-6); // only read with q/k norm weights, refused below
    n.refuseUnhandled();
    if (!causal && window > 0) {
      throw n.refuse("local_window_size=" + window + " requires causal=1");
    }
    if (softcap < 0) {
      throw n.refuse("attribute softcap=" + softcap + " is negative");
    }
    n.refuseInput(9, "position_ids");
    n.refuseInput(10, "attention_bias");
    n.refuseInput(11, "head_sink");
    n.refuseInputsFrom(12, "k_scale, v_scale or q/k norm weights");
    n.refuseOutput(3, "output_qk");
    if (!n.hasInput(5)) {
      throw n.refuse("input 5 (seqlens_k) is missing");
    }
    if (rotary && (!n.hasInput(7) || !n.hasInput(8))) {
      throw n.refuse("do_rotary=1 without cos_cache and sin_cache inputs");
    }
    boolean packed = !n.hasInput(1);
    if (packed != !n.hasInput(2)) {
      throw n.refuse("key and value must be both given or both empty (packed QKV)");
    }
    boolean past = n.hasInput(3);
    if (past != n.hasInput(4)) {
      throw n.refuse("past_key and past_value must be both given or both empty");
    }

    ElementType type = index.elemTypeOrFloat(n.input(0));
    String query = b.toFloat(n.input(0), type);
    String q;
    String k;
    String v;
    if (packed) {
      FusedCoreBuilder.Qkv qkv = b.splitPacked(query, heads, kvHeads);
      q = qkv.q();
      k = qkv.k();
      v = qkv.v();
    } else {
      q = b.splitHeads(query, heads);
      k = b.splitHeads(b.toFloat(n.input(1), type), kvHeads);
      v = b.splitHeads(b.toFloat(n.input(2), type), kvHeads);
    }
    String pastLen = past ? b.dim(n.input(3), 2) : g.constLongs(true, 0);
    String seqLen = b.dim(n.input(0), 1);
    String pos = b.range(b.scalar(pastLen), b.scalar(seqLen)); // [S] positions of the new tokens
    if (rotary) {
      String cos = b.toFloat(n.input(7), type);
      String sin = b.toFloat(n.input(8), type);
      q = b.rotary(q, cos, sin, pos, interleaved);
      k = b.rotary(k, cos, sin, pos, interleaved);
    }
    if (past) {
      k = g.op("Concat", List.of(b.toFloat(n.input(3), type), k), GraphBuilder.intAttr("axis", 2));
      v = g.op("Concat", List.of(b.toFloat(n.input(4), type), v), GraphBuilder.intAttr("axis", 2));
    }
    if (n.hasOutput(1)) {
      b.fromFloat(k, type, n.output(1));
    }
    if (n.hasOutput(2)) {
      b.fromFloat(v, type, n.output(2));
    }
    String mask = b.additive(allowed(b, n.input(5), pos, k, causal, window));
    long headDim = headDim(index, n, heads, kvHeads, packed, past);
    String out;
    String kr = b.repeatKv(k, heads, kvHeads);
    String vr = b.repeatKv(v, heads, kvHeads);
    if (scaleAttr != 0) {
      out = b.core(q, kr, vr, scaleAttr, mask, softcap);
    } else if (headDim > 0) {
      out = b.core(q, kr, vr, 1.0 / Math.sqrt(headDim), mask, softcap);
    } else {
      out = b.coreDynamicScale(q, kr, vr, mask, softcap);
    }
    b.fromFloat(b.mergeHeads(out), type, n.output(0));
  }

  /**
   * [B, 1, S, T] bool: query at position pos[i] may see key j (causal, inside the local window, and
   * j ≤ seqlens_k[b]).
   */
  private static String allowed(
      FusedCoreBuilder b, String seqlensK, String pos, String keys, boolean causal, long window) {
    GraphBuilder g = b.graph();
    String total = b.scalar(b.dim(keys, 2));
    String kpos = g.op("Range", g.constLong(0), total, g.constLong(1)); // [T]
    String diff = g.op("Sub", g.unsqueeze(pos, 1), kpos); // [S, T]: i − j in positions
    String lens =
        g.op("Reshape", g.cast(seqlensK, ElementType.INT64), g.constLongs(true, -1, 1, 1, 1));
    String allowed = g.lessOrEqual(kpos, lens); // [B, 1, 1, T]: j ≤ seqlens_k[b]
    if (causal) {
      allowed = g.op("And", allowed, g.greaterOrEqual(diff, g.constLong(0)));
    }
    if (window > 0) { // ONNX Runtime ignores a window of 0 as it does −1
      allowed = g.op("And", allowed, g.lessOrEqual(diff, g.constLong(window)));
    }
    return allowed;
  }

  /**
   * D from the caches' declared shapes or the projection's weight; -1 when only known at run time.
   */
  private static long headDim(
      GraphIndex index, FusedNode n, int heads, int kvHeads, boolean packed, boolean past) {
    for (String t : List.of(past ? n.input(3) : "", n.output(1), n.output(2))) {
      if (!t.isEmpty()) {
        long d = FusedAttention.declaredDim(index, t, 3);
        if (d > 0) {
          return d;
        }
      }
    }
    long width = FusedAttention.projectionWidth(index, n.input(0));
    int parts = packed ? heads + 2 * kvHeads : heads;
    return width > 0 && width % parts == 0 ? width / parts : -1;
  }
}
