package io.headwise.jobs.quantize;

import ai.onnx.proto.OnnxMl.ModelProto;
import io.headwise.export.quant.QuantizeExport;
import io.headwise.graph.OnnxModel;
import io.headwise.jobs.spark.ModelRef;
import io.headwise.profilers.quant.HessianGroup;
import io.headwise.profilers.quant.LinearLayer;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.SparkSession;

/**
 * Capture and solve: runs the Spark passes that capture Hessians on the executors and quantize each
 * group where its Hessian was merged ({@link QuantizeLayers}), either all groups in one pass over
 * the full-precision (or rotated) model, or, for {@code --capture sequential} (RSQ proper), one
 * group at a time in graph order on the model with every earlier group already quantized. It is
 * apart from {@link QuantizeRun} because the sequential schedule (write the partly quantized model,
 * recapture, drop the previous one) is the step's one non-trivial loop.
 */
final class QuantizeSolver {
  private final SparkSession spark;
  private final QuantizeRequest request;
  private final QuantizeRun.Calibration calibration;
  private final QuantizeWorkDir workDir;

  QuantizeSolver(
      SparkSession spark,
      QuantizeRequest request,
      QuantizeRun.Calibration calibration,
      QuantizeWorkDir workDir) {
    this.spark = spark;
    this.request = request;
    this.calibration = calibration;
    this.workDir = workDir;
  }

  /** Quantizes {@code layers} (in {@code groups}) of {@code working}. */
  QuantizedLinears solve(OnnxModel working, List<LinearLayer> layers, List<HessianGroup> groups) {
    QuantizedLinears linears = new QuantizedLinears();
    if (request.sequential()) {
      solveSequentially(working, layers, groups, linears);
    } else {
      describe("quantizing " + layers.size() + " linears in " + groups.size() + " groups");
      linears.add(pass(working, groups, groups));
    }
    return linears;
  }

  private void solveSequentially(
      OnnxModel working,
      List<LinearLayer> layers,
      List<HessianGroup> groups,
      QuantizedLinears linears) {
    Map<String, LinearLayer> byOutput = new HashMap<>();
    for (LinearLayer l : layers) {
      byOutput.put(l.outputTensor(), l);
    }
    ModelProto current = working.proto();
    Path sourceDir = working.externalDataDir().orElse(null);
    OnnxModel currentModel = working;
    Path previous = null;
    for (HessianGroup g : groups) {
      describe(
          "group "
              + (g.id() + 1)
              + "/"
              + groups.size()
              + " (block "
              + g.layer()
              + ", "
              + g.linears().size()
              + " linears) on the partly quantized model");
      QuantizeLayers.Pass pass = pass(currentModel, groups, List.of(g));
      linears.add(pass);
      if (g.id() + 1 < groups.size()) {
        current =
            QuantizeExport.withDequantized(current, pass.layers(), byOutput, request.spec().bits());
        Path next =
            QuantizeModelFiles.writeWorking(
                current,
                sourceDir,
                workDir.path(),
                "step-" + g.id() + ".onnx",
                QuantizeModelFiles.ExternalData.AUTO);
        currentModel = OnnxModel.load(next);
        QuantizeWorkDir.deleteModelFiles(previous);
        previous = next;
      }
    }
    QuantizeWorkDir.deleteModelFiles(previous);
  }

  private QuantizeLayers.Pass pass(
      OnnxModel model, List<HessianGroup> groups, List<HessianGroup> subset) {
    return QuantizeLayers.run(
        spark,
        calibration.samples(),
        calibration.parts(),
        ModelRef.of(spark, model, request.shipModel()),
        groups,
        subset,
        request.spec(),
        request.provider(),
        request.threads(),
        request.batchSize(),
        request.truncate());
  }

  private void describe(String what) {
    QuantizeRun.describe(spark, request.runId(), what);
  }
}
