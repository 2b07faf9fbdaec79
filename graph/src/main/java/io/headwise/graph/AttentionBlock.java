package io.headwise.graph;

import java.util.List;

/**
 * One attention block of a graph (QKᵀ → softmax → ·V), as located by {@link AttentionLocator} and
 * measured by a probe run.
 *
 * @param layer ordinal of the block among the graph's attention blocks, in graph order
 * @param softmaxNode name of the Softmax node
 * @param scoresTensor the Softmax input (scaled, masked scores)
 * @param probabilitiesTensor the probability tensor that actually feeds {@code MatMul(P, V)} (after
 *     any Cast, Dropout, Identity or IsNaN→Where guard)
 * @param pvMatMulNode name of the {@code MatMul(P, V)} node
 * @param valueTensor V as fed to {@code MatMul(P, V)}: [B, H (or Hkv), Tk, D]
 * @param outputTensor the per-head attention output {@code P·V}: [B, H, Tq, D]
 * @param qkMatMulNode name of the {@code MatMul(Q, Kᵀ)} node
 * @param queryTensor input 0 of the QK MatMul (Q, possibly pre-scaled by √s)
 * @param keyTransposedTensor input 1 of the QK MatMul with any operand scale stripped: Kᵀ [B, H, D,
 *     Tk], or K [B, H, Tk, D] when {@code qkTransposesKey}
 * @param scale the factor applied to Q·Kᵀ (NaN when the graph applies none that could be read)
 * @param scaleForm {@code mul} or {@code div} (on the scores), {@code split} (√s on both operands),
 *     {@code query} or {@code key} (on one operand), {@code fused} (a FusedMatMul's alpha) or
 *     {@code none}
 * @param maskTensors additive masks (and Where conditions) applied to the scores, in order
 * @param numHeads query heads
 * @param numKvHeads key/value heads (GQA: query head h reads kv head ⌊h / (numHeads / numKvHeads)⌋)
 * @param headDim size of each head's value vectors
 * @param causal true when a query never attends to later keys (measured), false for bidirectional
 * @param probabilitiesType element type of the probability tensor
 * @param qkTransposesKey true when the QK node transposes its second input itself (ONNX Runtime's
 *     {@code com.microsoft FusedMatMul} with {@code transB=1}, in offline-optimized graphs)
 */
public record AttentionBlock(
    int layer,
    String softmaxNode,
    String scoresTensor,
    String probabilitiesTensor,
    String pvMatMulNode,
    String valueTensor,
    String outputTensor,
    String qkMatMulNode,
    String queryTensor,
    String keyTransposedTensor,
    double scale,
    String scaleForm,
    List<String> maskTensors,
    int numHeads,
    int numKvHeads,
    int headDim,
    boolean causal,
    ElementType probabilitiesType,
    boolean qkTransposesKey) {

  /** Query heads per kv head. */
  public int groupSize() {
    return numHeads / numKvHeads;
  }

  /** The kv head that query head {@code h} reads. */
  public int kvHeadOf(int h) {
    return h / groupSize();
  }
}
