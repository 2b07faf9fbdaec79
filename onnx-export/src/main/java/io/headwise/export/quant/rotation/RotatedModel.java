package io.headwise.export.quant.rotation;

import ai.onnx.proto.OnnxMl.ModelProto;
import java.util.List;

/**
 * A rotated full-precision model and what was done to it.
 *
 * @param proto the rewritten model (norm weights folded, residual stream rotated, online transforms
 *     inserted)
 * @param hidden width of the residual stream
 * @param construction how the residual rotation Q was built (e.g. {@code
 *     RANDOM_HADAMARD_SYLVESTER})
 * @param seed seed of Q's random signs
 * @param foldedNorms RMSNorm weights folded into the linears that follow them
 * @param onlineTransforms one line per inserted online transform (where, size, construction)
 */
public record RotatedModel(
    ModelProto proto,
    int hidden,
    String construction,
    long seed,
    List<String> foldedNorms,
    List<String> onlineTransforms) {}
