package io.headwise.jobs.quantize;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.headwise.export.quant.MatMulNBitsPacking;
import io.headwise.export.quant.QuantizedLinear;
import io.headwise.graph.OnnxModel;
import io.headwise.profilers.eval.OutputComparison;
import io.headwise.profilers.quant.LinearLayer;
import io.headwise.schemas.Json;
import io.headwise.schemas.Tables;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;

/**
 * What a quantize run records and prints, as pure functions of its {@link QuantizeResult}: the
 * {@code quant_plans} and {@code evaluations} rows, the runs row's config, result JSON and message,
 * the metadata stamped into the model, and the summary on stdout. Kept apart from the Spark work so
 * that the table layout of the step can be read in one place.
 */
final class QuantizeRecords {
  private QuantizeRecords() {}

  /** {@code gptq}, or {@code gptq+rotate} when a rotation was applied. */
  static String methodLabel(QuantizeSpec spec, QuantizeRotation rotation) {
    return spec.method() + (rotation.applied() ? "+rotate" : "");
  }

  /** One {@code quant_plans} row per linear, in graph order. */
  static List<Row> planRows(QuantizeResult r) {
    QuantizeSpec spec = r.request().spec();
    QuantizeRotation rotation = r.rotation();
    List<Row> rows = new ArrayList<>();
    for (LinearLayer l : r.layers()) {
      QuantizedLinear q = r.linears().get(l.outputTensor());
      ObjectNode p = Json.MAPPER.createObjectNode();
      p.put("node", l.nodeName());
      p.put("output", l.outputTensor());
      p.put("layer", l.layer());
      p.put("writes_residual", l.writesResidual());
      p.put("container_bits", q.containerBits());
      p.put("block_size", q.blockSize());
      p.put("storage", storageNote(spec));
      p.put("clip_search", spec.clipSearch());
      p.put("capture", r.request().captureName());
      if (spec.needsHessian()) {
        p.put("weighting", spec.capture().weighting().name().toLowerCase(Locale.ROOT));
        if (spec.method().equals(QuantizeSpec.RSQ)) {
          p.put("r_min", spec.rMin());
        }
        p.put("hessian_group", q.hessianGroup());
        p.put("calibration_tokens", r.linears().tokens());
        p.put("calibration_sequences", r.linears().sequences());
        p.put("gptq_block", spec.gptqOptions().blockSize());
        p.put("percent_damp", spec.percentDamp());
        p.put("act_order", spec.actOrder());
        p.put("damp_attempts", q.dampAttempts());
        p.put("dead_inputs", q.deadInputs());
        p.put("relative_output_error", q.outputError());
      }
      if (rotation.applied()) {
        p.put(
            "rotation", rotation.rotated().construction() + ", seed " + rotation.rotated().seed());
      } else if (rotation.refused() != null) {
        p.put("rotation_refused", rotation.refused());
      }
      rows.add(
          RowFactory.create(
              r.original().modelId(),
              r.request().runId(),
              l.weightName(),
              spec.method(),
              spec.bits(),
              spec.groupSize(),
              q.symmetric(),
              rotation.applied(),
              l.inFeatures(),
              l.outFeatures(),
              q.damping(),
              q.loss(),
              q.seconds(),
              p.toString()));
    }
    return rows;
  }

  private static String storageNote(QuantizeSpec spec) {
    int container = MatMulNBitsPacking.containerBits(spec.bits());
    if (container == spec.bits()) {
      return spec.bits()
          + "-bit codes in "
          + container
          + "-bit MatMulNBits blocks of "
          + spec.groupSize();
    }
    return spec.bits()
        + "-bit codes stored in "
        + container
        + "-bit MatMulNBits containers (ONNX Runtime has no "
        + spec.bits()
        + "-bit kernel): values of a "
        + spec.bits()
        + "-bit grid, memory of "
        + container
        + " bits";
  }

  /** The {@code evaluations} row of the held-out comparison (call only when there is one). */
  static Row evaluationRow(QuantizeResult r) {
    QuantizeComparison comparison = r.comparison();
    OutputComparison.Metrics mt = comparison.metrics();
    Double cosine = comparison.pooledCosine() != null ? mt.cosineMean() : null;
    String runId = r.request().runId();
    return RowFactory.create(
        r.original().modelId(),
        runId,
        runId,
        r.methodLabel(),
        Tables.MODE_PREFILL,
        false,
        null,
        Tables.NOT_COMPARED,
        null,
        null,
        (int) mt.samples(),
        mt.positions(),
        mt.klMean(),
        mt.top1Agreement(),
        mt.nllDelta(),
        null,
        null,
        null,
        null,
        cosine,
        Timestamp.from(Instant.now()));
  }

  /** The metadata stamped into the quantized model ({@code headwise_quantization}). */
  static ObjectNode metadata(
      QuantizeRequest request, OnnxModel original, QuantizeRotation rotation, int linears) {
    QuantizeSpec spec = request.spec();
    ObjectNode o = Json.MAPPER.createObjectNode();
    o.put("source_model_id", original.modelId());
    o.put("run_id", request.runId());
    o.put("method", methodLabel(spec, rotation));
    o.put("bits", spec.bits());
    o.put("container_bits", MatMulNBitsPacking.containerBits(spec.bits()));
    o.put("group_size", spec.groupSize());
    o.put("symmetric", spec.symmetric());
    o.put("capture", request.captureName());
    o.put("linears", linears);
    return o;
  }

  /** The runs row's config: the options as the run used them, and its result. */
  static Map<String, Object> runConfig(QuantizeResult r, String master) {
    QuantizeRequest request = r.request();
    QuantizeSpec spec = request.spec();
    Map<String, Object> conf = new LinkedHashMap<>();
    conf.put("model", request.model());
    conf.put("calibration", request.calibration());
    conf.put("method", spec.method());
    conf.put("bits", spec.bits());
    conf.put("group", spec.groupSize());
    conf.put("scheme", request.schemeName());
    conf.put("clip_search", spec.clipSearch());
    conf.put("r_min", spec.rMin());
    conf.put("damp", spec.percentDamp());
    conf.put("act_order", spec.actOrder());
    conf.put("capture", request.captureName());
    conf.put("rotate", request.rotate());
    conf.put("seed", request.seed());
    conf.put("out", request.target().toString());
    conf.put("eval_samples", request.evalSamples());
    conf.put("external_data", request.externalName());
    conf.put("ep", request.provider().toString());
    conf.put("batch_size", request.batchSize());
    conf.put("partitions", r.partitions());
    conf.put("master", master);
    conf.put("result", summaryJson(r));
    return conf;
  }

  private static ObjectNode summaryJson(QuantizeResult r) {
    QuantizeRotation rotation = r.rotation();
    ObjectNode o = Json.MAPPER.createObjectNode();
    o.put("linears", r.layers().size());
    o.put("hessian_groups", r.groups().size());
    o.put("calibration_tokens", r.linears().tokens());
    o.put("original_bytes", r.originalBytes());
    o.put("quantized_bytes", r.quantizedBytes());
    o.put("external_data", r.staged().dataTarget().isPresent());
    o.put("quantize_seconds", r.seconds());
    if (rotation.applied()) {
      o.put("rotation", rotation.rotated().construction());
      o.put("rotation_max_abs_difference", rotation.difference().maxAbs());
      o.put("rotation_output_scale", rotation.difference().referenceMaxAbs());
      o.put("online_transforms", String.join("; ", rotation.rotated().onlineTransforms()));
    }
    if (rotation.refused() != null) {
      o.put("rotation_refused", rotation.refused());
    }
    QuantizeComparison comparison = r.comparison();
    if (comparison != null) {
      OutputComparison.Metrics mt = comparison.metrics();
      o.put("eval_samples", mt.samples());
      o.put("eval_positions", mt.positions());
      putNullable(o, "nll_original", mt.nllReference());
      putNullable(o, "nll_quantized", mt.nllCandidate());
      putNullable(o, "nll_delta", mt.nllDelta());
      putNullable(o, "kl_mean", mt.klMean());
      putNullable(o, "top1_agreement", mt.top1Agreement());
      putNullable(o, "pooled_cosine", comparison.pooledCosine());
      putNullable(o, "token_cosine", mt.cosineMean());
    }
    return o;
  }

  /** The runs row's message. */
  static String summaryLine(QuantizeResult r) {
    QuantizeSpec spec = r.request().spec();
    StringBuilder sb = new StringBuilder();
    sb.append(r.methodLabel())
        .append(" W")
        .append(spec.bits())
        .append(" g")
        .append(spec.groupSize())
        .append(": ")
        .append(r.layers().size())
        .append(" linears, ")
        .append(r.originalBytes())
        .append(" -> ")
        .append(r.quantizedBytes())
        .append(" bytes");
    QuantizeComparison comparison = r.comparison();
    if (comparison != null) {
      OutputComparison.Metrics mt = comparison.metrics();
      if (mt.nllReference() != null) {
        sb.append(
            String.format(
                Locale.ROOT, "; held-out NLL %.4f -> %.4f", mt.nllReference(), mt.nllCandidate()));
      } else if (comparison.pooledCosine() != null) {
        sb.append(String.format(Locale.ROOT, "; pooled cosine %.5f", comparison.pooledCosine()));
      }
    }
    return sb.toString();
  }

  /** The summary on stdout, once the model is in place. */
  static void printSummary(QuantizeResult r) {
    QuantizeSpec spec = r.request().spec();
    QuantizeModelFiles.Staged staged = r.staged();
    System.out.printf(
        Locale.ROOT,
        "quantize %s: %s W%d g%d (%s) on %d linears in %d Hessian groups%s%n",
        r.request().runId(),
        r.methodLabel(),
        spec.bits(),
        spec.groupSize(),
        r.request().schemeName(),
        r.layers().size(),
        r.groups().size(),
        spec.needsHessian() ? ", " + r.linears().tokens() + " calibration tokens" : "");
    if (r.rotation().refused() != null) {
      System.out.println("  rotation refused: " + r.rotation().refused());
    }
    System.out.printf(
        Locale.ROOT,
        "  model: %d -> %d bytes (%.2fx smaller), written to %s%s%n",
        r.originalBytes(),
        r.quantizedBytes(),
        (double) r.originalBytes() / r.quantizedBytes(),
        staged.target(),
        staged.dataTarget().map(p -> " + " + p.getFileName()).orElse(""));
    QuantizeComparison comparison = r.comparison();
    if (comparison != null) {
      OutputComparison.Metrics mt = comparison.metrics();
      if (mt.nllReference() != null) {
        System.out.printf(
            Locale.ROOT,
            "  held-out (%d samples, %d positions): NLL original %.4f, quantized %.4f"
                + " (delta %+.4f); KL %.5f; top-1 agreement %.4f%n",
            mt.samples(),
            mt.positions(),
            mt.nllReference(),
            mt.nllCandidate(),
            mt.nllDelta(),
            mt.klMean(),
            mt.top1Agreement());
      } else {
        System.out.printf(
            Locale.ROOT,
            "  held-out (%d samples, %d tokens): cosine of mean-pooled embeddings"
                + " %.5f; per-token cosine %.5f%n",
            mt.samples(),
            mt.positions(),
            comparison.pooledCosine(),
            mt.cosineMean());
      }
    }
  }

  private static void putNullable(ObjectNode o, String key, Double v) {
    if (v == null) {
      o.putNull(key);
    } else {
      o.put(key, v);
    }
  }
}
