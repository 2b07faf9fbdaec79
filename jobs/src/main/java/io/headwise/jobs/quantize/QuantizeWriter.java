package io.headwise.jobs.quantize;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnxruntime.OrtException;
import io.headwise.export.quant.QuantizeExport;
import io.headwise.graph.OnnxModel;
import io.headwise.jobs.quantize.QuantizeModelFiles.ExternalData;
import io.headwise.jobs.spark.ModelRef;
import io.headwise.jobs.warehouse.RunRecords;
import io.headwise.jobs.warehouse.Warehouse;
import io.headwise.profilers.ExecutionProvider;
import io.headwise.profilers.OrtSessionFactory;
import io.headwise.profilers.quant.LinearLayer;
import io.headwise.schemas.HeadwiseException;
import io.headwise.schemas.Tables;
import java.io.IOException;
import java.nio.file.Files;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The write stage of a quantize run, in the order that keeps a failure from leaving anything
 * behind: {@link #stage} writes the {@code MatMulNBits} model to hidden files next to {@code --out}
 * and checks that ONNX Runtime loads it; {@link #commit} writes the {@code quant_plans}, {@code
 * evaluations} and {@code runs} rows in one warehouse commit and only then moves the model into
 * place.
 */
final class QuantizeWriter {
  private QuantizeWriter() {}

  /**
   * A staged model and the model loaded from it (what held-out samples are evaluated on before it
   * moves into place).
   */
  record StagedModel(QuantizeModelFiles.Staged files, OnnxModel model) {}

  /**
   * Exports {@code working} with {@code MatMulNBits} nodes for {@code linears} and stages it for
   * {@code request.target()}; the staged model is opened once by ONNX Runtime (CPU) so that a model
   * it cannot load fails here, before any row is written.
   */
  static StagedModel stage(
      QuantizeRequest request,
      OnnxModel working,
      List<LinearLayer> layers,
      QuantizedLinears linears,
      String metadata) {
    // weights that stay float (embeddings, LM head, norms) stay external and are copied range by
    // range, unless the output must be one file
    ModelProto base =
        request.external() == ExternalData.NEVER
            ? ExternalInitializers.embedded(working)
            : working.proto();
    ModelProto exported =
        QuantizeExport.withMatMulNBits(
            base, layers, linears.byOutput(), request.spec().bits(), metadata);
    QuantizeModelFiles.Staged staged =
        QuantizeModelFiles.stage(
            exported, working.externalDataDir().orElse(null), request.target(), request.external());
    try {
      OnnxModel quantized = OnnxModel.load(staged.tempModel());
      OrtSessionFactory.open(quantized, quantized.proto(), ExecutionProvider.CPU, 1).close();
      return new StagedModel(staged, quantized);
    } catch (OrtException e) {
      staged.discard();
      throw new IllegalStateException(e);
    } catch (RuntimeException e) {
      staged.discard();
      throw e;
    }
  }

  /** Writes the run's rows in one warehouse commit, then moves the staged model into place. */
  static void commit(Warehouse w, QuantizeResult r, Instant started, String master) {
    String modelId = r.original().modelId();
    String runId = r.request().runId();
    Map<String, String> keys = Map.of("model_id", modelId, "run_id", runId);
    List<Warehouse.TableWrite> writes = new ArrayList<>();
    writes.add(
        new Warehouse.TableWrite(
            Tables.QUANT_PLANS, w.rows(Tables.QUANT_PLANS, QuantizeRecords.planRows(r)), keys));
    Map<String, Long> counts = new LinkedHashMap<>();
    counts.put(Tables.QUANT_PLANS.name(), (long) r.linears().size());
    if (r.comparison() != null) {
      writes.add(
          new Warehouse.TableWrite(
              Tables.EVALUATIONS,
              w.rows(Tables.EVALUATIONS, List.of(QuantizeRecords.evaluationRow(r))),
              Map.of("model_id", modelId, "run_id", runId, "plan_id", runId)));
      counts.put(Tables.EVALUATIONS.name(), 1L);
    }
    writes.add(
        RunRecords.write(
            w,
            runId,
            QuantizeJob.STEP,
            modelId,
            r.original().source(),
            started,
            QuantizeRecords.runConfig(r, master),
            counts,
            QuantizeRecords.summaryLine(r)));
    w.commit(writes, "headwise quantize run " + runId);
    r.staged().commit();
  }

  /** Bytes of a model file plus its external data files. */
  static long modelBytes(OnnxModel m) {
    if (m.path().isEmpty()) {
      return m.proto().getSerializedSize();
    }
    try {
      long n = Files.size(m.path().get());
      for (String loc : ModelRef.externalLocations(m)) {
        n += Files.size(m.externalDataDir().orElseThrow().resolve(loc));
      }
      return n;
    } catch (IOException e) {
      throw new HeadwiseException(
          "cannot stat model files of " + m.source() + ": " + e.getMessage(), e);
    }
  }
}
