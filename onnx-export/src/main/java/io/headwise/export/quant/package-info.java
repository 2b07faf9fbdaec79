/**
 * Writes quantized weights as ONNX Runtime {@code com.microsoft::MatMulNBits} nodes: the bit layout
 * ({@link io.headwise.export.quant.MatMulNBitsPacking}), packed tensors of one layer ({@link
 * io.headwise.export.quant.MatMulNBitsWeights}) and the graph rewrite ({@link
 * io.headwise.export.quant.MatMulNBitsRewriter}), and the quantize step's whole-model edits ({@link
 * io.headwise.export.quant.QuantizeExport}: every quantized linear as {@code MatMulNBits}, or its
 * weights replaced by their dequantized values, from {@link
 * io.headwise.export.quant.QuantizedLinear} results).
 *
 * <p>Typical use: {@code double[][] w = MatMulNBitsRewriter.weightOutIn(graph, node)}; quantize
 * {@code w} with {@code io.headwise.planners.quant}; {@code MatMulNBitsRewriter.replace(model,
 * node.getName(), MatMulNBitsWeights.from(quantized))}.
 */
package io.headwise.export.quant;
