package io.headwise.export.attention;

import ai.onnx.proto.OnnxMl.ModelProto;
import io.headwise.graph.AttentionMap;
import io.headwise.graph.OnnxModel;
import io.headwise.schemas.HeadwiseException;
import io.headwise.schemas.PlanMeta;
import io.headwise.schemas.PlanRow;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * Writes compressed graphs that carry a KV-cache plan: every attention core of the model becomes
 * one {@code ai.headwise::HeadwiseAttention} node whose attributes hold the plan of its layer, and
 * the model carries the op's reference body as a model-local function, so stock ONNX Runtime runs
 * it (see docs/headwise-attention.md).
 *
 * <p>A plan made for another model (model id) is refused, and so is a plan whose layers or heads do
 * not match the attention map, a budget head of any method but h2o (EMS budget heads merge their
 * evicted tokens, a decode-time policy only decode graphs implement: {@code export --decode}), and
 * a budget head in a bidirectional model.
 */
public final class HeadwiseAttentionExporter {
  private HeadwiseAttentionExporter() {}

  /**
   * The rewritten model proto, not written anywhere: run it with {@code OrtModels.session(model,
   * proto, options)}, which resolves external data against {@code model}'s directory.
   */
  public static ModelProto rewrite(
      OnnxModel model, AttentionMap map, PlanMeta meta, List<PlanRow> rows) {
    return rewriteWithSources(model, map, meta, rows).proto();
  }

  /**
   * Writes the rewritten model to {@code out} (through a temporary file, so a failure writes
   * nothing). Weights stored as external data stay external: the data files are copied next to
   * {@code out} unless it is written in the source model's own directory; embedded weights stay
   * embedded in the one output file.
   */
  public static HeadwiseAttentionExport export(
      OnnxModel model, AttentionMap map, PlanMeta meta, List<PlanRow> rows, Path out) {
    return export(model, map, meta, rows, out, ExternalDataPlacement.COPY);
  }

  /**
   * As {@link #export(OnnxModel, AttentionMap, PlanMeta, List, Path)}, choosing how external-data
   * files reach the output directory when it is not the source model's ({@link
   * ExternalDataPlacement}).
   */
  public static HeadwiseAttentionExport export(
      OnnxModel model,
      AttentionMap map,
      PlanMeta meta,
      List<PlanRow> rows,
      Path out,
      ExternalDataPlacement placement) {
    AttentionCoreRewriter.Result result = rewriteWithSources(model, map, meta, rows);
    ModelFileWriter.Written written = ModelFileWriter.write(model, result.proto(), out, placement);
    List<String> sources =
        result.kvSources().stream()
            .map(s -> s.name().toLowerCase(Locale.ROOT).replace('_', '-'))
            .toList();
    return new HeadwiseAttentionExport(
        written.output(), map.numLayers(), written.externalData(), written.dataFiles(), sources);
  }

  private static AttentionCoreRewriter.Result rewriteWithSources(
      OnnxModel model, AttentionMap map, PlanMeta meta, List<PlanRow> rows) {
    List<LayerPlan> plans = PlanResolver.resolve(model, map, meta, rows);
    for (PlanRow r : rows) {
      if (PlanRow.BUDGET.equalsIgnoreCase(r.kind())
          && PlanResolver.EMS.equalsIgnoreCase(r.method())) {
        throw new HeadwiseException(
            "layer "
                + r.layer()
                + ", "
                + (PlanRow.KV_HEAD.equals(r.granularity()) ? "kv" : "query")
                + " head "
                + r.head()
                + " of plan "
                + meta.planId()
                + " is an ems budget head: EMS's evict-then-merge is a decode-time policy (evicted"
                + " tokens join a merge slot) that the prefill simulation does not model; export its"
                + " decode graph with headwise export --decode and measure it with headwise"
                + " evaluate --decode");
      }
    }
    return AttentionCoreRewriter.rewrite(model, map, plans);
  }
}
