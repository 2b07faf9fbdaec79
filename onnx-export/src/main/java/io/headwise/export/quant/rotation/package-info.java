/**
 * RSQ/QuaRot's rotation as an exact ONNX graph rewrite for Llama-family models: RMSNorm weights
 * folded into the following linears, the residual stream rotated by a random Hadamard fused into
 * the weights, and the online Hadamards RSQ needs before o_proj and down_proj inserted as graph
 * nodes ({@link io.headwise.export.quant.rotation.ResidualStreamRotation}); the rotated model is
 * checked against the original in ONNX Runtime ({@link
 * io.headwise.export.quant.rotation.RotationCheck}). Other structures (LayerNorm with bias, e.g.
 * BERT/MiniLM) are refused by name with {@link
 * io.headwise.export.quant.rotation.RotationRefusedException}.
 */
package io.headwise.export.quant.rotation;
