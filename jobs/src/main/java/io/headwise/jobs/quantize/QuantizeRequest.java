package io.headwise.jobs.quantize;

import io.headwise.jobs.quantize.QuantizeModelFiles.ExternalData;
import io.headwise.profilers.ExecutionProvider;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * What one {@code quantize} run was asked to do, parsed and checked once by {@link QuantizeJob}
 * before Spark starts; every later stage reads it and none changes it.
 *
 * @param runId the run id (the rows of an earlier run with this id are replaced)
 * @param model the {@code --model} argument as given (recorded in the runs row)
 * @param calibration calibration sources
 * @param evalSamples held-out sources, null when none were given (recorded so in the runs row)
 * @param spec method, grid and GPTQ knobs
 * @param sequential {@code --capture sequential}: recapture group by group on the partly quantized
 *     model
 * @param rotate {@code --rotate}
 * @param seed seed of the rotation's random signs
 * @param out {@code --out} as given
 * @param target {@code --out}, absolute and normalized
 * @param external when to write external data
 * @param provider ONNX Runtime execution provider
 * @param threads ONNX Runtime intra-op threads per session
 * @param batchSize sequences per ONNX Runtime run
 * @param partitions {@code --partitions} (0 = the default parallelism)
 * @param truncate cut samples longer than the model accepts
 * @param shipModel send model files to executors with {@code SparkContext.addFile}
 */
record QuantizeRequest(
    String runId,
    String model,
    List<String> calibration,
    List<String> evalSamples,
    QuantizeSpec spec,
    boolean sequential,
    boolean rotate,
    long seed,
    Path out,
    Path target,
    ExternalData external,
    ExecutionProvider provider,
    int threads,
    int batchSize,
    int partitions,
    boolean truncate,
    boolean shipModel) {

  /** Whether held-out samples were given. */
  boolean evaluates() {
    return evalSamples != null && !evalSamples.isEmpty();
  }

  /** The {@code --capture} value ({@link QuantizeJob#CAPTURE_FP} or sequential). */
  String captureName() {
    return sequential ? QuantizeJob.CAPTURE_SEQUENTIAL : QuantizeJob.CAPTURE_FP;
  }

  /** The {@code --scheme} value. */
  String schemeName() {
    return spec.symmetric() ? "sym" : "asym";
  }

  /** The {@code --external-data} value. */
  String externalName() {
    return external.name().toLowerCase(Locale.ROOT);
  }
}
