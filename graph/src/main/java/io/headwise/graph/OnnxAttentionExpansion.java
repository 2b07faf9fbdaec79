package io.headwise.graph;

/**
 * The standard ONNX {@code Attention} operator (opset 23; the dynamo {@code torch.onnx} exporter
 * emits it for SDPA) as a decomposed core.
 *
 * <p>Q, K, V are 4-D [B, H, S, D] (heads read from the tensors; kv heads repeated to the query
 * heads when fewer), or 3-D [B, S, H·D] with {@code q_num_heads}/{@code kv_num_heads}.
 * past_key/past_value [B, Hkv, P, D] are prepended; present outputs the result. attn_mask is
 * boolean (true = attend; false becomes the most negative float) or an additive float mask; {@code
 * is_causal=1} lets query i (at position P + i) see keys j ≤ P + i. Scale {@code scale} (default
 * 1/√D). The core runs in float32, whatever {@code softmax_precision} says. {@code softcap} (which
 * this operator, and ONNX Runtime, apply after the mask, as the test OnnxAttentionSoftcapOrderTest
 * shows), the qk_matmul_output output and nonpad_kv_seqlen are refused by name.
 */
final class OnnxAttentionExpansion {
  private OnnxAttentionExpansion() {}

  static void expand(FusedNode n, FusedCoreBuilder b, GraphIndex index) {
    GraphBuilder g = b.graph();
    boolean causal = n.intAttrIn("is_causal", 0, 0, 1) == 1;
    long qHeads = n.intAttr("q_num_heads", 0);
    long kvHeads = n.intAttr("kv_num_heads", 0);
    double scaleAttr = n.floatAttr("scale", 0);
    double softcap = n.floatAttr("softcap", 0);
    if (softcap != 0) {
      // ONNX Runtime caps after the mask, as the operator's definition does
      // (OnnxAttentionSoftcapOrderTest); headwise's cores cap first.
      throw n.refuse(
          "attribute softcap="
              + softcap
              + " is not supported: this operator caps the scores after adding the mask (ONNX"
              + " Runtime too), so masked and future keys keep the logit -softcap, while headwise's"
              + " cores mask after the cap; export the model with GroupQueryAttention (ONNX"
              + " Runtime GenAI's model builder), whose softcap comes before its mask and is"
              + " supported");
    }
    n.intAttr("qk_matmul_output_mode", 0); // only shapes the qk_matmul_output output, refused below
    n.intAttr(
        "softmax_precision", 0); // the expanded core computes softmax in float32 in every case
    n.refuseUnhandled();
    n.refuseOutput(3, "qk_matmul_output");
    n.refuseInput(6, "nonpad_kv_seqlen");
    n.refuseInputsFrom(7, "unknown");
    if (n.hasInput(4) != n.hasInput(5)) {
      throw n.refuse("past_key and past_value must be both given or both empty");
    }
    int rank = FusedAttention.declaredRank(index, n.input(0));
    boolean threeD = rank == 3 || rank < 0 && qHeads > 0;
    if (threeD && (qHeads <= 0 || kvHeads <= 0 || qHeads % kvHeads != 0)) {
      throw n.refuse(
          "3-D inputs need q_num_heads and kv_num_heads (a positive multiple), got "
              + qHeads
              + " and "
              + kvHeads);
    }
    ElementType type = index.elemTypeOrFloat(n.input(0));
    String q = b.toFloat(n.input(0), type);
    String k = b.toFloat(n.input(1), type);
    String v = b.toFloat(n.input(2), type);
    if (threeD) {
      q = b.splitHeads(q, (int) qHeads);
      k = b.splitHeads(k, (int) kvHeads);
      v = b.splitHeads(v, (int) kvHeads);
    }
    FusedCoreBuilder.WithPast kv = b.appendPast(n, 4, k, v, type);
    k = kv.k();
    v = kv.v();
    String pastLen = kv.pastLen();
    String mask = null;
    if (n.hasInput(3)) {
      ElementType maskType = index.elemType(n.input(3));
      mask =
          maskType == ElementType.BOOL ? b.additive(n.input(3)) : b.toFloat(n.input(3), maskType);
    }
    if (causal) {
      String pos = b.range(b.scalar(pastLen), b.scalar(b.dim(q, 2)));
      String c = b.additive(MaskIndex.causal(b, pos, k));
      mask = mask == null ? c : g.op("Add", mask, c);
    }
    long qh = threeD ? qHeads : FusedAttention.declaredDim(index, n.input(0), 1);
    long kh = threeD ? kvHeads : FusedAttention.declaredDim(index, n.input(1), 1);
    String kr;
    String vr;
    if (qh > 0 && kh > 0) {
      kr = b.repeatKv(k, (int) qh, (int) kh);
      vr = b.repeatKv(v, (int) qh, (int) kh);
    } else {
      kr = b.repeatKvDynamic(k, q);
      vr = b.repeatKvDynamic(v, q);
    }
    long headDim =
        threeD
            ? (FusedAttention.projectionWidth(index, n.input(0)) > 0
                ? FusedAttention.projectionWidth(index, n.input(0)) / qHeads
                : -1)
            : FusedAttention.declaredDim(index, n.input(0), 3);
    String out;
    if (scaleAttr != 0) {
      out = b.core(q, kr, vr, scaleAttr, mask, 0);
    } else if (headDim > 0) {
      out = b.core(q, kr, vr, 1.0 / Math.sqrt(headDim), mask, 0);
    } else {
      out = b.coreDynamicScale(q, kr, vr, mask, 0);
    }
    b.fromFloat(threeD ? b.mergeHeads(out) : out, type, n.output(0));
  }
}
