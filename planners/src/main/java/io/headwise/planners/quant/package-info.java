/**
 * Weight quantization math for RSQ plans, pure Java in double: grids ({@link
 * io.headwise.planners.quant.QuantConfig}, {@link io.headwise.planners.quant.QuantGrid}), RTN and
 * GPTQ ({@link io.headwise.planners.quant.RtnQuantizer}, {@link
 * io.headwise.planners.quant.GptqQuantizer}), rotations ({@link
 * io.headwise.planners.quant.Rotations}, {@link io.headwise.planners.quant.Hadamard}) and the
 * token-importance Hessian ({@link io.headwise.planners.quant.TokenImportance}, {@link
 * io.headwise.planners.quant.HessianAccumulator}).
 *
 * <p>Typical use for one linear layer, weights in PyTorch orientation {@code [N_out][K]}:
 *
 * <pre>{@code
 * HessianAccumulator acc = new HessianAccumulator(k);
 * for (each calibration sequence) acc.addSequence(layerInput, tokens, TokenImportance.weights(attentionReceived));
 * GptqResult r = GptqQuantizer.quantize(layerName, weightOutIn, acc.hessian(), QuantConfig.rsqDefault(3));
 * // r.weight() -> io.headwise.export.quant.MatMulNBitsWeights.from(r.weight()) -> MatMulNBitsRewriter.replace(...)
 * }</pre>
 */
package io.headwise.planners.quant;
