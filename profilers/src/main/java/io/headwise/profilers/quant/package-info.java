/**
 * In-graph Hessian capture for GPTQ/RSQ weight quantization.
 *
 * <p>{@link io.headwise.profilers.quant.LinearLayers#find} lists the linear layers inside the
 * transformer blocks and {@link io.headwise.profilers.quant.LinearLayers#groups} groups those
 * reading the same activation; {@link io.headwise.profilers.quant.HessianCapture} appends {@code
 * Σ_t w_t x_t x_tᵀ} per group to the graph (token weights 1 for GPTQ, RSQ's attention concentration
 * otherwise); {@link io.headwise.profilers.quant.HessianProfiler} runs it over calibration samples
 * through the per-JVM {@link io.headwise.profilers.quant.HessianSessions} cache and returns
 * mergeable double sums ({@link io.headwise.profilers.quant.HessianSums}) for the quantizers in
 * {@code io.headwise.planners.quant}.
 */
package io.headwise.profilers.quant;
