package io.headwise.planners.quant;

/**
 * Scale and integer zero point of one quantization group; dequantization is {@code (code − zero) ·
 * scale}.
 */
public record GridParams(double scale, int zero) {}
