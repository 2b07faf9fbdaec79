package io.headwise.jobs.quantize;

import io.headwise.graph.AttentionLocator;
import io.headwise.graph.AttentionMap;
import io.headwise.graph.OnnxModel;
import io.headwise.jobs.cli.Cli;
import io.headwise.jobs.cli.ConfigOption;
import io.headwise.jobs.cli.ModelOption;
import io.headwise.jobs.cli.OptionNames;
import io.headwise.jobs.cli.OrtOptions;
import io.headwise.jobs.cli.PartitionsOption;
import io.headwise.jobs.cli.ShipModelOption;
import io.headwise.jobs.cli.WarehouseOptions;
import io.headwise.jobs.quantize.QuantizeModelFiles.ExternalData;
import io.headwise.jobs.spark.SparkErrors;
import io.headwise.jobs.spark.SparkSessions;
import io.headwise.profilers.ExecutionProvider;
import io.headwise.schemas.HeadwiseException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * The quantize step ({@code headwise quantize}; {@code spark-submit --class
 * io.headwise.jobs.quantize.QuantizeJob}): weight quantization of every linear layer inside the
 * transformer blocks by RTN, GPTQ or RSQ, optionally after RSQ's rotation, exported as ONNX with
 * {@code com.microsoft::MatMulNBits} nodes.
 *
 * <p>This class is the command line only: its options, checked into one {@link QuantizeRequest}
 * before the model or Spark is touched. The stages of a run ({@link QuantizeRun}): (1) with {@code
 * --rotate}, the full-precision model is rotated and must reproduce the original outputs on
 * calibration samples; a model whose structure does not allow it is quantized without rotation and
 * the refusal is recorded ({@link QuantizeRotation}); (2) Hessians {@code Σ_t w_t x_t x_tᵀ} are
 * captured in-graph on Spark executors over the calibration samples and summed in double, and each
 * group of linears sharing an input is quantized where its Hessian was merged; with {@code
 * --capture sequential} (RSQ proper) this runs group by group in graph order on the partly
 * quantized model ({@link QuantizeSolver}); (3) the {@code MatMulNBits} model is staged next to
 * {@code --out} (external data when large), optionally evaluated against the original on held-out
 * samples, the {@code quant_plans}, {@code evaluations} and {@code runs} rows ({@link
 * QuantizeRecords}) are committed for (model, run id), and only then is the model moved into place
 * ({@link QuantizeWriter}). A failure leaves no file and no row.
 */
@Command(
    name = "quantize",
    mixinStandardHelpOptions = true,
    description =
        "Quantize the linear layers of a transformer (RTN, GPTQ or RSQ, optional rotation), write quant_plans"
            + " and a MatMulNBits ONNX model.")
public final class QuantizeJob implements Callable<Integer> {
  public static final String STEP = "quantize";

  /** {@code --capture} value: Hessians of the full-precision (or rotated) model, one pass. */
  public static final String CAPTURE_FP = "fp";

  /** {@code --capture} value: RSQ's layer-by-layer recapture on the partly quantized model. */
  public static final String CAPTURE_SEQUENTIAL = "sequential";

  @Mixin ConfigOption config;

  @Mixin ModelOption model;

  @Option(
      names = OptionNames.CALIBRATION,
      paramLabel = "SRC",
      required = true,
      description =
          "Calibration samples: JSONL, a JSON array of token-id arrays, or a Delta/Parquet table"
              + " (repeatable).")
  List<String> calibration;

  @Option(
      names = OptionNames.RUN_ID,
      required = true,
      description = "Run id; rerunning it replaces its rows.")
  String runId;

  @Option(
      names = OptionNames.METHOD,
      required = true,
      paramLabel = "rtn|gptq|rsq",
      description =
          "rtn (round to nearest), gptq (Hessian with r = 1) or rsq (Hessian weighted by attention"
              + " concentration).")
  String method;

  @Option(
      names = OptionNames.BITS,
      defaultValue = "4",
      paramLabel = "4|3|8",
      description =
          "Code width; 3-bit codes are stored in 4-bit MatMulNBits containers (default: ${DEFAULT-VALUE}).")
  int bits;

  @Option(
      names = OptionNames.GROUP,
      defaultValue = "32",
      description =
          "Group size along K, also the MatMulNBits block size (default: ${DEFAULT-VALUE}).")
  int group;

  @Option(
      names = OptionNames.ROTATE,
      description =
          "Rotate first (fold RMSNorms, random Hadamard on the residual stream, online Hadamards before"
              + " o_proj and down_proj); refused by name for other structures.")
  boolean rotate;

  @Option(
      names = OptionNames.OUT,
      required = true,
      paramLabel = "OUT.onnx",
      description = "Quantized model to write.")
  Path out;

  @Option(
      names = OptionNames.EVAL_SAMPLES,
      paramLabel = "SRC",
      description =
          "Held-out samples to compare quantized and original on (repeatable): NLL, KL, top-1 for"
              + " decoders, cosine of mean-pooled embeddings for encoders.")
  List<String> evalSamples;

  @Option(
      names = OptionNames.SCHEME,
      defaultValue = "asym",
      paramLabel = "asym|sym",
      description =
          "Grid: asymmetric min/max with zero points, or symmetric (default: ${DEFAULT-VALUE}).")
  String scheme;

  @Option(
      names = OptionNames.CLIP_SEARCH,
      description = "MSE range search per group (GPTQ/QuaRot's --w_clip).")
  boolean clipSearch;

  @Option(
      names = OptionNames.R_MIN,
      defaultValue = "0.005",
      description =
          "RSQ: lower end of the token weights' min-max range (default: ${DEFAULT-VALUE}).")
  double rMin;

  @Option(
      names = OptionNames.DAMP,
      defaultValue = "0.01",
      description =
          "GPTQ dampening, fraction of the mean Hessian diagonal (default: ${DEFAULT-VALUE}).")
  double damp;

  @Option(names = OptionNames.ACT_ORDER, description = "GPTQ act-order (static groups, no g_idx).")
  boolean actOrder;

  @Option(
      names = OptionNames.CAPTURE,
      defaultValue = CAPTURE_FP,
      paramLabel = "fp|sequential",
      description =
          "fp: Hessians of the full-precision model in one pass; sequential: RSQ proper, recaptured group"
              + " by group on the partly quantized model (default: ${DEFAULT-VALUE}).")
  String capture;

  @Option(
      names = OptionNames.SEED,
      defaultValue = "0",
      description = "Seed of the rotation's random signs.")
  long seed;

  @Option(
      names = OptionNames.EXTERNAL_DATA,
      defaultValue = "auto",
      paramLabel = "auto|always|never",
      description =
          "Write large initializers to OUT.onnx.data: auto = when they exceed 1 GiB (default:"
              + " ${DEFAULT-VALUE}).")
  String externalData;

  @Option(
      names = OptionNames.BATCH_SIZE,
      defaultValue = "8",
      description = "Sequences per ONNX Runtime run.")
  int batchSize;

  @Mixin OrtOptions ort;

  @Mixin PartitionsOption partitions;

  @Option(
      names = OptionNames.TRUNCATE,
      description = "Cut samples longer than the model accepts instead of failing.")
  boolean truncate;

  @Mixin ShipModelOption ship;

  @Mixin WarehouseOptions warehouse;

  /** spark-submit entry point. */
  public static void main(String[] args) {
    System.exit(Cli.run(new QuantizeJob(), args));
  }

  @Override
  public Integer call() {
    Instant started = Instant.now();
    QuantizeRequest request = request();
    OnnxModel m = model.load();
    if (m.path().isPresent() && m.path().get().equals(request.target())) {
      throw new HeadwiseException(
          "--out " + out + " is the input model; write the quantized model elsewhere");
    }
    AttentionMap map = AttentionLocator.locate(m).requireAttention(m.source());
    SparkSession spark = SparkSessions.get(warehouse.master, "headwise quantize " + runId);
    try (QuantizeWorkDir workDir = new QuantizeWorkDir(request.target())) {
      new QuantizeRun(spark, warehouse.warehouse, request, m, map, started, workDir).run();
      return 0;
    } catch (RuntimeException e) {
      throw SparkErrors.unwrap(e);
    }
  }

  /**
   * The options, parsed and checked (bad values fail here, before the model or Spark is touched).
   */
  private QuantizeRequest request() {
    QuantizeSpec spec =
        new QuantizeSpec(method, bits, group, symmetric(scheme), clipSearch, damp, actOrder, rMin);
    boolean sequential = captureMode(capture, spec);
    ExternalData external = ExternalData.parse(externalData);
    ExecutionProvider provider = ort.executionProvider();
    Path target = checkOut(out);
    return new QuantizeRequest(
        runId,
        model.model,
        calibration,
        evalSamples,
        spec,
        sequential,
        rotate,
        seed,
        out,
        target,
        external,
        provider,
        ort.threads,
        batchSize,
        partitions.partitions,
        truncate,
        ship.shipModel);
  }

  private static boolean symmetric(String scheme) {
    String s = scheme == null ? "" : scheme.trim().toLowerCase(Locale.ROOT);
    if (s.equals("sym") || s.equals("symmetric")) {
      return true;
    }
    if (s.equals("asym") || s.equals("asymmetric")) {
      return false;
    }
    throw new HeadwiseException(OptionNames.SCHEME + " must be asym or sym, got '" + scheme + "'");
  }

  private static boolean captureMode(String capture, QuantizeSpec spec) {
    String c = capture == null ? "" : capture.trim().toLowerCase(Locale.ROOT);
    if (c.equals(CAPTURE_FP)) {
      return false;
    }
    if (c.equals(CAPTURE_SEQUENTIAL)) {
      if (!spec.needsHessian()) {
        throw new HeadwiseException(
            OptionNames.CAPTURE
                + " sequential needs --method gptq or rsq (rtn captures"
                + " nothing)");
      }
      return true;
    }
    throw new HeadwiseException(
        OptionNames.CAPTURE + " must be fp or sequential, got '" + capture + "'");
  }

  private static Path checkOut(Path out) {
    Path p = out.toAbsolutePath().normalize();
    if (!p.getFileName().toString().endsWith(".onnx")) {
      throw new HeadwiseException("--out must name an .onnx file, got " + out);
    }
    if (Files.isDirectory(p)) {
      throw new HeadwiseException(
          "--out " + out + " is a directory; pass the path of the .onnx file to write");
    }
    Path dir = p.getParent();
    if (Files.exists(dir) && !Files.isDirectory(dir)) {
      throw new HeadwiseException("the parent of --out " + out + " is not a directory");
    }
    return p;
  }
}
