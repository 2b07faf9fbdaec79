package io.headwise.graph;

/**
 * {@code com.microsoft::MultiHeadAttention} (ONNX Runtime's transformer optimizer) as a decomposed
 * core.
 *
 * <p>query [B, S, N·D], key and value [B, L, N·D] (3-D only: packed QKV, packed KV and BNSH keys
 * are refused by name), bias [3·N·D] (optional: q, k, v biases). past_key/past_value [B, N, P, D]
 * (optional) are prepended; present outputs the result. key_padding_mask follows {@link MaskIndex}:
 * masked scores get {@code mask_filter_value} (default −10000) added, as ONNX Runtime's CPU kernel
 * does; attention_bias is added; {@code unidirectional=1} masks keys j > P + i. Scale {@code scale}
 * (default 1/√D). past_sequence_length, cache_indirection and the qk output are refused by name.
 */
final class MultiHeadAttentionExpansion {
  private MultiHeadAttentionExpansion() {}

  static void expand(FusedNode n, FusedCoreBuilder b, GraphIndex index) {
    GraphBuilder g = b.graph();
    FusedCoreBuilder.MsAttributes attrs = FusedCoreBuilder.MsAttributes.read(n);
    int heads = attrs.heads();
    n.intAttrIn("qk_output", 0, 0);
    n.refuseUnhandled();
    n.refuseInput(8, "past_sequence_length");
    n.refuseInput(9, "cache_indirection");
    n.refuseInputsFrom(10, "unknown");
    n.refuseOutput(3, "qk");
    if (!n.hasInput(1) || !n.hasInput(2)) {
      throw n.refuse("packed Q/K/V or packed K/V (empty key or value input) is not supported");
    }
    for (int i = 0; i < 3; i++) {
      int r = FusedAttention.declaredRank(index, n.input(i));
      if (r >= 0 && r != 3) {
        throw n.refuse(
            "input "
                + i
                + " ('"
                + n.input(i)
                + "') has rank "
                + r
                + "; only [batch, sequence, hidden]"
                + " query/key/value are supported");
      }
    }
    if (n.hasInput(6) != n.hasInput(7)) {
      throw n.refuse("past_key and past_value must be both given or both empty");
    }
    ElementType type = index.elemTypeOrFloat(n.input(0));
    String query = b.toFloat(n.input(0), type);
    String key = b.toFloat(n.input(1), type);
    String value = b.toFloat(n.input(2), type);
    if (n.hasInput(3)) {
      String bias = b.toFloat(n.input(3), type);
      String w = b.dim(query, 2);
      String axis = g.constLongs(true, 0);
      query = g.op("Add", query, g.op("Slice", bias, g.constLongs(true, 0), w, axis));
      key = g.op("Add", key, g.op("Slice", bias, w, g.op("Add", w, w), axis));
      value =
          g.op(
              "Add",
              value,
              g.op("Slice", bias, g.op("Add", w, w), g.constLongs(true, Long.MAX_VALUE), axis));
    }
    String q = b.splitHeads(query, heads);
    String k = b.splitHeads(key, heads);
    String v = b.splitHeads(value, heads);
    FusedCoreBuilder.WithPast kv = b.appendPast(n, 6, k, v, type);
    long width = FusedAttention.projectionWidth(index, n.input(0));
    b.msCore(n, index, 4, q, kv.k(), kv.v(), kv.pastLen(), attrs, width, type);
  }
}
