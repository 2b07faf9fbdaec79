/**
 * Compressed graphs with the {@code ai.headwise::HeadwiseAttention} op: each attention core becomes
 * one node whose attributes carry the per-head KV-cache plan, backed by a model-local function with
 * the reference body.
 *
 * <p>Typical use from the jobs layer: {@code OnnxModel model = OnnxModel.load(path); AttentionMap
 * map = AttentionLocator.locate(model);} then either {@code HeadwiseAttentionExporter.export(model,
 * map, meta, rows, out)} to write a file, or {@code HeadwiseAttentionExporter.rewrite(model, map,
 * meta, rows)} for an in-memory proto to run through {@code OrtModels.session(model, proto,
 * options)}. The op is specified in docs/headwise-attention.md.
 */
package io.headwise.export.attention;
