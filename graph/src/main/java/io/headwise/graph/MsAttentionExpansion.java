package io.headwise.graph;

import java.util.List;

/**
 * {@code com.microsoft::Attention} (ONNX Runtime's transformer optimizer: BERT encoders, GPT-2
 * decoders) as a decomposed core.
 *
 * <p>input [B, S, Hin] · weights [Hin, q + k + v] (+ bias) gives Q, K, V, split at {@code
 * qkv_hidden_sizes} (equal thirds by default). past [2, B, H, P, D] (optional) is prepended to K
 * and V; present = the stacked result. Query i sits at position P + i; {@code unidirectional=1}
 * masks keys j > P + i. mask_index follows {@link MaskIndex}; masked scores get {@code
 * mask_filter_value} (default −10000) added, as ONNX Runtime's CPU kernel does; attention_bias is
 * added. Scale {@code scale} (default 1/√D). Rotary ({@code do_rotary=1}), a shared past/present
 * buffer and past_sequence_length are refused by name.
 */
final class MsAttentionExpansion {
  private MsAttentionExpansion() {}

  static void expand(FusedNode n, FusedCoreBuilder b, GraphIndex index) {
    GraphBuilder g = b.graph();
    FusedCoreBuilder.MsAttributes attrs = FusedCoreBuilder.MsAttributes.read(n);
    int heads = attrs.heads();
    n.intAttrIn("do_rotary", 0, 0);
    n.ignore("rotary_embedding_dim"); // only read with do_rotary=1, refused above
    n.intAttrIn("past_present_share_buffer", 0, 0);
    List<Long> sizes = n.intsAttr("qkv_hidden_sizes");
    n.refuseUnhandled();
    n.refuseInput(6, "past_sequence_length");
    n.refuseInputsFrom(7, "unknown");
    if (heads <= 0) {
      throw n.refuse("num_heads=" + heads + " is not positive");
    }
    if (sizes != null && sizes.size() != 3) {
      throw n.refuse("qkv_hidden_sizes has " + sizes.size() + " values, not 3");
    }
    ElementType type = index.elemTypeOrFloat(n.input(0));
    String qkv = g.op("MatMul", b.toFloat(n.input(0), type), b.toFloat(n.input(1), type));
    if (n.hasInput(2)) {
      qkv = g.op("Add", qkv, b.toFloat(n.input(2), type));
    }
    String axis = g.constLongs(true, -1);
    String qPart;
    String kPart;
    String vPart;
    long qWidth;
    if (sizes != null) {
      long q = sizes.get(0);
      long k = sizes.get(1);
      qWidth = q;
      qPart = g.op("Slice", qkv, g.constLongs(true, 0), g.constLongs(true, q), axis);
      kPart = g.op("Slice", qkv, g.constLongs(true, q), g.constLongs(true, q + k), axis);
      vPart =
          g.op("Slice", qkv, g.constLongs(true, q + k), g.constLongs(true, Long.MAX_VALUE), axis);
    } else {
      long cols = FusedAttention.declaredDim(index, n.input(1), 1);
      qWidth = cols > 0 ? cols / 3 : -1;
      String third = g.op("Div", b.dim(qkv, 2), g.constLongs(true, 3));
      String twoThirds = g.op("Add", third, third);
      qPart = g.op("Slice", qkv, g.constLongs(true, 0), third, axis);
      kPart = g.op("Slice", qkv, third, twoThirds, axis);
      vPart = g.op("Slice", qkv, twoThirds, g.constLongs(true, Long.MAX_VALUE), axis);
    }
    String q = b.splitHeads(qPart, heads);
    String k = b.splitHeads(kPart, heads);
    String v = b.splitHeads(vPart, heads);
    String pastLen = g.constLongs(true, 0);
    if (n.hasInput(4)) {
      String past = b.toFloat(n.input(4), type);
      String pastK = g.op("Gather", List.of(past, g.constLong(0)), GraphBuilder.intAttr("axis", 0));
      String pastV = g.op("Gather", List.of(past, g.constLong(1)), GraphBuilder.intAttr("axis", 0));
      pastLen = b.dim(pastK, 2);
      k = g.op("Concat", List.of(pastK, k), GraphBuilder.intAttr("axis", 2));
      v = g.op("Concat", List.of(pastV, v), GraphBuilder.intAttr("axis", 2));
    }
    if (n.hasOutput(1)) {
      String present =
          g.op(
              "Concat",
              List.of(g.unsqueeze(k, 0), g.unsqueeze(v, 0)),
              GraphBuilder.intAttr("axis", 0));
      b.fromFloat(present, type, n.output(1));
    }
    b.msCore(n, index, 3, q, k, v, pastLen, attrs, qWidth, type);
  }
}
