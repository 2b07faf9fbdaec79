package io.headwise.graph;

import static io.headwise.graph.GraphBuilder.intAttr;
import static io.headwise.graph.GraphBuilder.intsAttr;

import java.util.List;

/**
 * Emits the decomposed pieces a fused attention op is expanded into, in the node forms {@link
 * AttentionLocator} and the exporter read: heads split by Reshape → Transpose, rotary embeddings
 * from cos/sin caches, kv heads repeated the way transformers' {@code repeat_kv} exports them
 * (Unsqueeze at 2 → Expand → Reshape), and the core {@code MatMul(Q, Transpose(K)) → Mul(scale) →
 * [soft-cap] → Add(mask) → Softmax → MatMul(P, V)}. The core runs in float32 whatever the model's
 * element type (callers cast around it), so statistics read float32 probabilities.
 */
final class FusedCoreBuilder {
  /**
   * The most negative float32, the additive mask value for keys a query may not see (finfo.min, as
   * HF uses).
   */
  static final float MASKED = -3.4028234663852886e38f;

  private static final long END = Long.MAX_VALUE;

  private final GraphBuilder g;

  FusedCoreBuilder(GraphBuilder g) {
    this.g = g;
  }

  GraphBuilder graph() {
    return g;
  }

  /** [B, S, N·D] → [B, N, S, D] (D read at run time). */
  String splitHeads(String x, int heads) {
    String r = g.op("Reshape", x, g.constLongs(true, 0, 0, heads, -1));
    return g.op("Transpose", List.of(r), intsAttr("perm", 0, 2, 1, 3));
  }

  /** Q [B, H, S, D], K and V [B, Hkv, S, D]. */
  record Qkv(String q, String k, String v) {}

  /** Packed [B, S, (H + 2·Hkv)·D] → Q, K and V in heads. */
  Qkv splitPacked(String packed, int heads, int kvHeads) {
    String r = g.op("Reshape", packed, g.constLongs(true, 0, 0, heads + 2L * kvHeads, -1));
    String q =
        g.op("Slice", r, g.constLongs(true, 0), g.constLongs(true, heads), g.constLongs(true, 2));
    String k =
        g.op(
            "Slice",
            r,
            g.constLongs(true, heads),
            g.constLongs(true, heads + kvHeads),
            g.constLongs(true, 2));
    String v =
        g.op(
            "Slice",
            r,
            g.constLongs(true, heads + kvHeads),
            g.constLongs(true, heads + 2L * kvHeads),
            g.constLongs(true, 2));
    return new Qkv(transpose(q), transpose(k), transpose(v));
  }

  private String transpose(String x) {
    return g.op("Transpose", List.of(x), intsAttr("perm", 0, 2, 1, 3));
  }

  /** [B, N, S, D] → [B, S, N·D]. */
  String mergeHeads(String x) {
    String t = transpose(x);
    return g.op("Reshape", t, g.constLongs(true, 0, 0, -1));
  }

  /** Size of {@code axis} of {@code x} as a 1-element int64 vector. */
  String dim(String x, long axis) {
    return g.dim(g.op("Shape", x), axis);
  }

  /** A 1-element int64 vector as a scalar. */
  String scalar(String vector1) {
    return g.squeeze(vector1, 0);
  }

  /** Positions start, start+1, …, start+n−1 as a [n] int64 tensor (start and n scalars). */
  String range(String start, String n) {
    return g.op("Range", start, g.op("Add", start, n), g.constLong(1));
  }

  /**
   * Rotary embedding of x [B, N, S, D] at positions {@code pos} [S] from caches cos/sin [maxLen,
   * r/2]: the first r dims are rotated (rotate-half pairs (k, k + r/2), or interleaved pairs (2k,
   * 2k+1)), the rest pass through, as ONNX Runtime's RotaryEmbedding does.
   */
  String rotary(String x, String cosCache, String sinCache, String pos, boolean interleaved) {
    String cos = g.op("Gather", List.of(cosCache, pos), intAttr("axis", 0)); // [S, r/2]
    String sin = g.op("Gather", List.of(sinCache, pos), intAttr("axis", 0));
    String half = dim(cosCache, 1);
    String r = g.op("Mul", half, g.constLongs(true, 2));
    String axis = g.constLongs(true, -1);
    String rot = g.op("Slice", x, g.constLongs(true, 0), r, axis);
    String pass = g.op("Slice", x, r, g.constLongs(true, END), axis);
    String rotated;
    if (interleaved) {
      String pairs = g.op("Reshape", rot, g.constLongs(true, 0, 0, 0, -1, 2)); // [B, N, S, r/2, 2]
      String even = g.op("Slice", pairs, g.constLongs(true, 0), g.constLongs(true, 1), axis);
      String odd = g.op("Slice", pairs, g.constLongs(true, 1), g.constLongs(true, 2), axis);
      String c = g.unsqueeze(cos, -1);
      String s = g.unsqueeze(sin, -1);
      String e2 = g.op("Sub", g.op("Mul", even, c), g.op("Mul", odd, s));
      String o2 = g.op("Add", g.op("Mul", odd, c), g.op("Mul", even, s));
      String both = g.op("Concat", List.of(e2, o2), intAttr("axis", -1));
      rotated = g.op("Reshape", both, g.constLongs(true, 0, 0, 0, -1));
    } else {
      String x1 = g.op("Slice", rot, g.constLongs(true, 0), half, axis);
      String x2 = g.op("Slice", rot, half, r, axis);
      String y1 = g.op("Sub", g.op("Mul", x1, cos), g.op("Mul", x2, sin));
      String y2 = g.op("Add", g.op("Mul", x2, cos), g.op("Mul", x1, sin));
      rotated = g.op("Concat", List.of(y1, y2), intAttr("axis", -1));
    }
    return g.op("Concat", List.of(rotated, pass), intAttr("axis", -1));
  }

  /** [B, Hkv, T, D] → [B, H, T, D], each kv head repeated H/Hkv times (transformers' repeat_kv). */
  String repeatKv(String x, int heads, int kvHeads) {
    if (heads == kvHeads) {
      return x;
    }
    String shape = g.op("Shape", x);
    String target =
        g.op(
            "Concat",
            List.of(
                g.dim(shape, 0),
                g.constLongs(true, heads),
                g.op("Slice", shape, g.constLongs(true, 2), g.constLongs(true, 4))),
            intAttr("axis", 0));
    String u = g.unsqueeze(x, 2);
    String e = g.op("Expand", u, g.constLongs(true, 1, 1, heads / kvHeads, 1, 1));
    return g.op("Reshape", e, target);
  }

  /**
   * [B, Hkv, T, D] → [B, H, T, D] with H read from {@code q} [B, H, S, D] at run time (H / Hkv
   * copies of each kv head, repeat_kv's node form); a no-op copy when H = Hkv.
   */
  String repeatKvDynamic(String x, String q) {
    String shape = g.op("Shape", x);
    String heads = g.dim(g.op("Shape", q), 1);
    String groups = g.op("Div", heads, g.dim(shape, 1));
    String target =
        g.op(
            "Concat",
            List.of(
                g.dim(shape, 0),
                heads,
                g.op("Slice", shape, g.constLongs(true, 2), g.constLongs(true, 4))),
            intAttr("axis", 0));
    String expandTo =
        g.op(
            "Concat",
            List.of(g.constLongs(true, 1, 1), groups, g.constLongs(true, 1, 1)),
            intAttr("axis", 0));
    String e = g.op("Expand", g.unsqueeze(x, 2), expandTo);
    return g.op("Reshape", e, target);
  }

  /**
   * softmax(scale·Q·Kᵀ [soft-capped] + mask)·V for Q [B, H, S, D], K and V [B, H, T, D] (float32);
   * {@code mask} is an additive float32 tensor broadcastable to [B, H, S, T], or null; {@code
   * softcap} ≤ 0 means none.
   */
  String core(String q, String k, String v, double scale, String mask, double softcap) {
    String kt = g.op("Transpose", List.of(k), intsAttr("perm", 0, 1, 3, 2));
    String scores = g.op("Mul", g.op("MatMul", q, kt), g.constFloat((float) scale));
    return attend(scores, v, mask, softcap);
  }

  /**
   * {@link #core} with the default scale 1/√D read at run time from Q's shape (D not known
   * statically).
   */
  String coreDynamicScale(String q, String k, String v, String mask, double softcap) {
    String d = g.cast(dim(q, 3), ElementType.FLOAT);
    String kt = g.op("Transpose", List.of(k), intsAttr("perm", 0, 1, 3, 2));
    String scores = g.op("Div", g.op("MatMul", q, kt), g.op("Sqrt", d));
    return attend(scores, v, mask, softcap);
  }

  /** softmax(scores [soft-capped] + mask)·V: the part of {@link #core} after the scaling. */
  private String attend(String scores, String v, String mask, double softcap) {
    if (softcap > 0) {
      String c = g.constFloat((float) softcap);
      scores = g.op("Mul", g.op("Tanh", g.op("Div", scores, c)), c);
    }
    if (mask != null) {
      scores = g.op("Add", scores, mask);
    }
    String p = g.op("Softmax", List.of(scores), intAttr("axis", g.opset() >= 13 ? -1 : 3));
    return g.op("MatMul", p, v);
  }

  /** Additive float32 mask: 0 where {@code allowed} (bool), {@link #MASKED} elsewhere. */
  String additive(String allowed) {
    return g.op("Where", allowed, g.constFloat(0f), g.constFloat(MASKED));
  }

  /** x cast to float32 unless it already is. */
  String toFloat(String x, ElementType elemType) {
    return elemType == ElementType.FLOAT || x.isEmpty() ? x : g.cast(x, ElementType.FLOAT);
  }

  /** x (float32) cast back to {@code elemType}, written to {@code out}. */
  void fromFloat(String x, ElementType elemType, String out) {
    if (elemType == ElementType.FLOAT) {
      g.identity(x, out);
    } else {
      g.op("Cast", List.of(x), List.of(out), intAttr("to", elemType.code()));
    }
  }

  /** K and V after the past cache, and the past length as a 1-element int64 vector. */
  record WithPast(String k, String v, String pastLen) {}

  /**
   * Puts the past key and value (inputs {@code pastKey} and {@code pastKey + 1}, [B, Hkv, P, D]) in
   * front of K and V, and writes the results as the present key and value (outputs 1 and 2): the
   * cache handling ONNX Attention and com.microsoft MultiHeadAttention share.
   */
  WithPast appendPast(FusedNode n, int pastKey, String k, String v, ElementType type) {
    String pastLen = g.constLongs(true, 0);
    if (n.hasInput(pastKey)) {
      String pastK = toFloat(n.input(pastKey), type);
      pastLen = dim(pastK, 2);
      k = g.op("Concat", List.of(pastK, k), intAttr("axis", 2));
      v = g.op("Concat", List.of(toFloat(n.input(pastKey + 1), type), v), intAttr("axis", 2));
    }
    if (n.hasOutput(1)) {
      fromFloat(k, type, n.output(1));
    }
    if (n.hasOutput(2)) {
      fromFloat(v, type, n.output(2));
    }
    return new WithPast(k, v, pastLen);
  }

  /**
   * The attributes com.microsoft Attention and MultiHeadAttention share: num_heads, unidirectional
   * (causal), scale (0: not given) and mask_filter_value (the bias on disallowed keys).
   */
  record MsAttributes(int heads, boolean causal, double scale, double filter) {
    static MsAttributes read(FusedNode n) {
      int heads = (int) n.requiredInt("num_heads");
      boolean causal = n.intAttrIn("unidirectional", 0, 0, 1) == 1;
      double scale = n.floatAttr("scale", 0);
      double filter = n.floatAttr("mask_filter_value", -10000);
      return new MsAttributes(heads, causal, scale, filter);
    }
  }

  /**
   * The rest of a com.microsoft Attention or MultiHeadAttention node once Q, K and V are in heads:
   * its mask_index (input {@code maskIndex}) and causality as the filter value on disallowed keys,
   * plus its attention_bias (input 5); the core scaled by the scale attribute when non-zero, else
   * by 1/√(width / heads) when the projection {@code width} is known, else by the head dim at run
   * time; output 0 written in {@code type}.
   */
  void msCore(
      FusedNode n,
      GraphIndex index,
      int maskIndex,
      String q,
      String k,
      String v,
      String pastLen,
      MsAttributes attrs,
      long width,
      ElementType type) {
    int heads = attrs.heads();
    double scale = attrs.scale();
    String pos = range(scalar(pastLen), scalar(dim(n.input(0), 1)));
    String allowed = null;
    if (n.hasInput(maskIndex)) {
      allowed =
          MaskIndex.allowed(
              n,
              this,
              n.input(maskIndex),
              MaskIndex.rank(index, n.input(maskIndex)),
              k,
              dim(n.input(0), 0));
    }
    if (attrs.causal()) {
      String c = MaskIndex.causal(this, pos, k);
      allowed = allowed == null ? c : g.op("And", allowed, c);
    }
    String mask =
        allowed == null
            ? null
            : g.op("Where", allowed, g.constFloat(0f), g.constFloat((float) attrs.filter()));
    if (n.hasInput(5)) {
      String bias = toFloat(n.input(5), type);
      mask = mask == null ? bias : g.op("Add", mask, bias);
    }
    String out;
    if (scale != 0) {
      out = core(q, k, v, scale, mask, 0);
    } else if (width > 0 && width % heads == 0) {
      out = core(q, k, v, 1.0 / Math.sqrt((double) width / heads), mask, 0);
    } else {
      out = coreDynamicScale(q, k, v, mask, 0);
    }
    fromFloat(mergeHeads(out), type, n.output(0));
  }
}
