package io.headwise.export.attention;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import io.headwise.graph.AttentionBlock;
import io.headwise.graph.AttentionMap;
import io.headwise.graph.ElementType;
import io.headwise.graph.ModelInputs;
import io.headwise.graph.OnnxModel;
import io.headwise.schemas.HeadwiseException;
import io.headwise.schemas.PlanMeta;
import io.headwise.schemas.PlanRow;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/**
 * Decode graphs whose KV caches follow a plan (docs/decode.md): from a decoder exported with a KV
 * cache (Optimum-style {@code past_key_values.<l>.key|value} inputs, {@code present.<l>.key|value}
 * outputs and {@code position_ids}), every attention core attends over per-group caches that hold
 * only what the plan keeps: full groups keep every token, streaming/elastic groups keep their sinks
 * plus the keys the next query's window reaches (the cache never holds more than sink + ⌈span⌉ − 1
 * tokens). Each cache carries the absolute positions of its entries, so the keep rule of the
 * prefill simulation (docs/headwise-attention.md) is applied exactly, for a prompt chunk of any
 * length and for single decode steps alike.
 *
 * <p>The plan is checked against the model it was made for (usually the same network exported
 * without a cache): its id must be that model's and the two models must hold the same weights.
 *
 * <p>This class is the entry point and the checks; the graph is built by {@link
 * DecodeGraphAssembler} from the cache layout of {@link DecodeCacheGroups}, the attention of {@link
 * WindowedCacheAttention} (with {@link RazorCompensation}) and {@link BudgetCacheAttention} (with
 * {@link BudgetEviction} and {@link MergeSlot}), and the cache inputs and outputs of {@link
 * DecodeCacheIo}.
 */
public final class DecodeGraphExporter {
  static final String PREFIX = "headwise/decode/";

  /**
   * The rewritten model, its cache groups (in input order) and per layer the tensors its attention
   * reads (for tests and engines that want to check a policy against the model's own Q, K and V).
   */
  public record DecodeGraph(
      ModelProto proto,
      List<DecodeCacheGroup> groups,
      String positionIds,
      List<LayerTensors> layers) {}

  /**
   * Per layer: Q [B, H, S, D] (unscaled), K and V of the new tokens [B, Hkv, S, D], the score
   * scale, kv_heads, and the attention output [B, H, S, Dv] (before the output projection).
   */
  public record LayerTensors(
      String query, String newKey, String newValue, float scale, long[] kvHeads, String output) {}

  private DecodeGraphExporter() {}

  /**
   * The decode graph of {@code decoder} (a model with past key/value inputs) under a plan made for
   * {@code planModel} (the same weights; may be {@code decoder} itself).
   */
  public static DecodeGraph rewrite(
      OnnxModel decoder, AttentionMap map, OnnxModel planModel, PlanMeta meta, List<PlanRow> rows) {
    ModelInputs inputs = ModelInputs.of(decoder.graph());
    if (inputs.pastInputs().isEmpty() || inputs.positionIds().isEmpty()) {
      throw new HeadwiseException(
          "model "
              + decoder.source()
              + " has no "
              + (inputs.pastInputs().isEmpty() ? "past key/value inputs" : "position_ids input")
              + "; a decode graph is made from a decoder exported"
              + " with its KV cache (Optimum: optimum-cli export onnx --task text-generation-with-past; torch.onnx.export"
              + " with use_cache=True, past_key_values.<l>.key/value inputs, present.<l>.key/value outputs and"
              + " position_ids)");
    }
    for (AttentionBlock b : map.blocks()) {
      // The caches, merge slots and scores are built as float32 tensors; a float16 decoder would
      // need them in its own type (the prefill export handles float16 between Casts).
      if (b.probabilitiesType() != ElementType.FLOAT) {
        throw new HeadwiseException(
            "model "
                + decoder.source()
                + " runs attention layer "
                + b.layer()
                + " in ONNX element type "
                + b.probabilitiesType().code()
                + "; decode graphs are exported for float32 decoders only (plain `export` handles"
                + " float16/bfloat16 models); export the decoder in float32 for --decode");
      }
    }
    if (!meta.modelId().equals(planModel.modelId())) {
      throw new HeadwiseException(
          "plan "
              + meta.planId()
              + " was made for model "
              + meta.modelId()
              + ", not for "
              + planModel.source()
              + " ("
              + planModel.modelId()
              + "); refusing to apply it: export a plan of this model");
    }
    if (!planModel.modelId().equals(decoder.modelId())
        && !weights(planModel.graph()).equals(weights(decoder.graph()))) {
      throw new HeadwiseException(
          "model "
              + decoder.source()
              + " does not hold the weights of "
              + planModel.source()
              + ", the model plan "
              + meta.planId()
              + " was made for; export the decode graph from the same network"
              + " exported with its KV cache");
    }
    PlanMeta rebased =
        new PlanMeta(
            meta.planId(),
            decoder.modelId(),
            meta.statsRunId(),
            meta.method(),
            meta.kvFractionTarget(),
            meta.targetLengths(),
            meta.expectedKvFraction(),
            meta.numLayers(),
            meta.numHeads(),
            meta.numKvHeads(),
            meta.createdAtMillis());
    List<PlanRow> rebasedRows =
        rows.stream()
            .map(
                r ->
                    new PlanRow(
                        r.planId(),
                        decoder.modelId(),
                        r.statsRunId(),
                        r.method(),
                        r.granularity(),
                        r.layer(),
                        r.head(),
                        r.kind(),
                        r.sinkTokens(),
                        r.alpha(),
                        r.beta(),
                        r.budgetTokens(),
                        r.paramsJson()))
            .toList();
    List<LayerPlan> plans = PlanResolver.resolve(decoder, map, rebased, rebasedRows);
    AttentionCoreRewriter.Result rewritten = AttentionCoreRewriter.rewrite(decoder, map, plans);
    return DecodeGraphAssembler.build(decoder, rewritten.proto(), plans, inputs, meta.planId());
  }

  /**
   * Writes the decode graph of {@link #rewrite} to {@code out} (through a temporary file; failures
   * write nothing).
   */
  public static Path export(
      OnnxModel decoder,
      AttentionMap map,
      OnnxModel planModel,
      PlanMeta meta,
      List<PlanRow> rows,
      Path out) {
    return write(decoder, rewrite(decoder, map, planModel, meta, rows), out);
  }

  /**
   * Writes a decode graph of {@code decoder} (external data copied next to {@code out} as the
   * exporter does).
   */
  public static Path write(OnnxModel decoder, DecodeGraph graph, Path out) {
    return ModelFileWriter.write(decoder, graph.proto(), out, ExternalDataPlacement.COPY).output();
  }

  /**
   * A fingerprint of a model's weights: the sorted SHA-256 digests of its large initializers'
   * contents (names and small constants differ between exports of one network; the weights do not).
   */
  static List<String> weights(GraphProto graph) {
    List<String> out = new ArrayList<>();
    MessageDigest sha;
    try {
      sha = MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
    for (TensorProto t : graph.getInitializerList()) {
      long n = 1;
      for (long d : t.getDimsList()) {
        n *= d;
      }
      if (n < 256) {
        continue;
      }
      sha.reset();
      sha.update(t.getRawData().toByteArray());
      for (float f : t.getFloatDataList()) {
        sha.update(Float.toString(f).getBytes(StandardCharsets.UTF_8));
      }
      sha.update(t.getDimsList().toString().getBytes(StandardCharsets.UTF_8));
      out.add(HexFormat.of().formatHex(sha.digest()));
    }
    out.sort(null);
    return out;
  }
}
