package io.headwise.jobs.quantize;

import ai.onnx.proto.OnnxMl.ModelProto;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.headwise.export.quant.MatMulNBitsPacking;
import io.headwise.export.quant.QuantizeExport;
import io.headwise.export.quant.QuantizedLinear;
import io.headwise.export.quant.rotation.ResidualStreamRotation;
import io.headwise.export.quant.rotation.RotatedModel;
import io.headwise.export.quant.rotation.RotationCheck;
import io.headwise.export.quant.rotation.RotationRefusedException;
import io.headwise.graph.AttentionLocator;
import io.headwise.graph.AttentionMap;
import io.headwise.graph.ModelInputs;
import io.headwise.graph.ModelLimits;
import io.headwise.graph.OnnxModel;
import io.headwise.jobs.cli.Cli;
import io.headwise.jobs.cli.ConfigOption;
import io.headwise.jobs.cli.ModelOption;
import io.headwise.jobs.cli.OptionNames;
import io.headwise.jobs.cli.OrtOptions;
import io.headwise.jobs.cli.WarehouseOptions;
import io.headwise.jobs.quantize.QuantizeModelFiles.ExternalData;
import io.headwise.jobs.spark.CalibrationRows;
import io.headwise.jobs.spark.ModelRef;
import io.headwise.jobs.spark.SparkErrors;
import io.headwise.jobs.spark.SparkSessions;
import io.headwise.jobs.warehouse.RunRecords;
import io.headwise.jobs.warehouse.Warehouse;
import io.headwise.profilers.CalibrationSample;
import io.headwise.profilers.ExecutionProvider;
import io.headwise.profilers.OrtSessionFactory;
import io.headwise.profilers.SampleChecks;
import io.headwise.profilers.eval.OutputComparison;
import io.headwise.profilers.quant.HessianGroup;
import io.headwise.profilers.quant.LinearLayer;
import io.headwise.profilers.quant.LinearLayers;
import io.headwise.schemas.HeadwiseException;
import io.headwise.schemas.Json;
import io.headwise.schemas.Tables;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.UUID;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.storage.StorageLevel;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * The quantize step ({@code headwise quantize}; {@code spark-submit --class
 * io.headwise.jobs.quantize.QuantizeJob}): weight quantization of every linear layer inside the
 * transformer blocks by RTN, GPTQ or RSQ, optionally after RSQ's rotation, exported as ONNX with
 * {@code com.microsoft::MatMulNBits} nodes.
 *
 * <p>Steps: (1) with {@code --rotate}, the full-precision model is rotated ({@link
 * ResidualStreamRotation}) and must reproduce the original outputs on calibration samples ({@link
 * RotationCheck}); a model whose structure does not allow it is quantized without rotation and the
 * refusal is recorded; (2) Hessians {@code Σ_t w_t x_t x_tᵀ} are captured in-graph on Spark
 * executors over the calibration samples and summed in double, and each group of linears sharing an
 * input is quantized where its Hessian was merged ({@link QuantizeLayers}); with {@code --capture
 * sequential} (RSQ proper) this runs group by group in graph order on the partly quantized model;
 * (3) the {@code MatMulNBits} model is staged next to {@code --out} (external data when large),
 * optionally evaluated against the original on held-out samples, the {@code quant_plans}, {@code
 * evaluations} and {@code runs} rows are committed for (model, run id), and only then is the model
 * moved into place. A failure leaves no file and no row.
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

  @Option(
      names = OptionNames.PARTITIONS,
      defaultValue = "0",
      description = "Spark partitions of the calibration samples (0 = the default parallelism).")
  int partitions;

  @Option(
      names = OptionNames.TRUNCATE,
      description = "Cut samples longer than the model accepts instead of failing.")
  boolean truncate;

  @Option(
      names = OptionNames.SHIP_MODEL,
      description =
          "Send model files to executors with SparkContext.addFile instead of a shared filesystem path.")
  boolean shipModel;

  @Mixin WarehouseOptions warehouse;

  private Path workDir;

  /** spark-submit entry point. */
  public static void main(String[] args) {
    System.exit(Cli.run(new QuantizeJob(), args));
  }

  @Override
  public Integer call() {
    Instant started = Instant.now();
    QuantizeSpec spec =
        new QuantizeSpec(method, bits, group, symmetric(scheme), clipSearch, damp, actOrder, rMin);
    boolean sequential = captureMode(capture, spec);
    ExternalData external = ExternalData.parse(externalData);
    ExecutionProvider provider = ort.executionProvider();
    Path target = checkOut(out);
    OnnxModel m = model.load();
    if (m.path().isPresent() && m.path().get().equals(target)) {
      throw new HeadwiseException(
          "--out " + out + " is the input model; write the quantized model elsewhere");
    }
    AttentionMap map = AttentionLocator.locate(m).requireAttention(m.source());
    SparkSession spark = SparkSessions.get(warehouse.master, "headwise quantize " + runId);
    QuantizeModelFiles.Staged staged = null;
    try {
      Run run = new Run(spark, m, map, spec, sequential, external, provider, target, started);
      staged = run.stage();
      run.commit(staged);
      return 0;
    } catch (RuntimeException e) {
      throw SparkErrors.unwrap(e);
    } finally {
      if (staged != null) {
        staged.discard();
      }
      deleteWorkDir();
    }
  }

  /** One execution of the step. */
  private final class Run {
    final SparkSession spark;
    final OnnxModel original;
    final AttentionMap map;
    final QuantizeSpec spec;
    final boolean sequential;
    final ExternalData external;
    final ExecutionProvider provider;
    final Path target;
    final Instant started;
    final Warehouse w;
    Dataset<Row> samples;
    int parts;
    OnnxModel working;
    RotatedModel rotated;
    RotationCheck.Difference rotationDifference;
    String rotationRefused;
    List<LinearLayer> layers;
    List<HessianGroup> groups;
    final Map<String, QuantizedLinear> results = new LinkedHashMap<>();
    long tokens;
    long sequences;
    QuantizeComparison comparison;
    long originalBytes;
    long quantizedBytes;
    double seconds;

    Run(
        SparkSession spark,
        OnnxModel original,
        AttentionMap map,
        QuantizeSpec spec,
        boolean sequential,
        ExternalData external,
        ExecutionProvider provider,
        Path target,
        Instant started) {
      this.spark = spark;
      this.original = original;
      this.map = map;
      this.spec = spec;
      this.sequential = sequential;
      this.external = external;
      this.provider = provider;
      this.target = target;
      this.started = started;
      this.w = new Warehouse(spark, warehouse.warehouse);
    }

    /** Rotates, captures, quantizes and stages the model file; evaluates it when asked. */
    QuantizeModelFiles.Staged stage() {
      samples =
          QuantizeSamples.read(spark, calibration, original.modelId(), OptionNames.CALIBRATION);
      samples.persist(StorageLevel.MEMORY_AND_DISK());
      long n = samples.count();
      if (n == 0) {
        throw new HeadwiseException(
            "the calibration sources hold no sample for model " + original.modelId());
      }
      parts =
          (int)
              Math.max(
                  1,
                  Math.min(
                      partitions > 0 ? partitions : spark.sparkContext().defaultParallelism(), n));
      working = original;
      if (rotate) {
        rotateModel();
      }
      AttentionMap workingMap =
          working == original
              ? map
              : AttentionLocator.locate(working).requireAttention(working.source());
      layers = LinearLayers.find(working.graph(), workingMap);
      if (layers.isEmpty()) {
        throw new HeadwiseException(
            "model "
                + original.source()
                + " has no linear layer (MatMul/Gemm with an"
                + " initializer weight) inside its transformer blocks to quantize");
      }
      groups = LinearLayers.groups(layers);
      long t0 = System.nanoTime();
      if (sequential) {
        quantizeSequentially();
      } else {
        describe("quantizing " + layers.size() + " linears in " + groups.size() + " groups");
        collect(
            QuantizeLayers.run(
                spark,
                samples,
                parts,
                ModelRef.of(spark, working, shipModel),
                groups,
                groups,
                spec,
                provider,
                ort.threads,
                batchSize,
                truncate));
      }
      seconds = (System.nanoTime() - t0) / 1e9;
      System.err.printf(
          Locale.ROOT,
          "headwise quantize: %s of %d linears done in %.1f s%n",
          spec.needsHessian() ? "capture and quantization" : "quantization",
          layers.size(),
          seconds);
      long t1 = System.nanoTime();
      // weights that stay float (embeddings, LM head, norms) stay external and are copied range by
      // range, unless
      // the output must be one file
      ModelProto base =
          external == ExternalData.NEVER ? QuantizeModelFiles.embedded(working) : working.proto();
      ModelProto exported =
          QuantizeExport.withMatMulNBits(base, layers, results, spec.bits(), metadata().toString());
      QuantizeModelFiles.Staged staged =
          QuantizeModelFiles.stage(
              exported, working.externalDataDir().orElse(null), target, external);
      OnnxModel quantized = OnnxModel.load(staged.tempModel());
      try {
        OrtSessionFactory.open(quantized, quantized.proto(), ExecutionProvider.CPU, 1).close();
      } catch (ai.onnxruntime.OrtException e) {
        throw new IllegalStateException(e);
      }
      originalBytes = modelBytes(original);
      quantizedBytes = staged.bytes();
      System.err.printf(
          Locale.ROOT,
          "headwise quantize: MatMulNBits model staged in %.1f s%n",
          (System.nanoTime() - t1) / 1e9);
      if (evalSamples != null && !evalSamples.isEmpty()) {
        long t2 = System.nanoTime();
        evaluate(quantized);
        System.err.printf(
            Locale.ROOT,
            "headwise quantize: evaluation done in %.1f s%n",
            (System.nanoTime() - t2) / 1e9);
      }
      return staged;
    }

    private void rotateModel() {
      try {
        rotated = ResidualStreamRotation.rotate(QuantizeModelFiles.embedded(original), map, seed);
        List<CalibrationSample> probe = new ArrayList<>();
        for (Row r : samples.limit(4).collectAsList()) {
          probe.add(CalibrationRows.fromRow(r));
        }
        probe =
            SampleChecks.validate(
                probe,
                ModelLimits.of(original.graph(), ModelInputs.of(original.graph())),
                truncate);
        int t = probe.stream().mapToInt(CalibrationSample::length).max().orElse(1);
        long[][] ids = new long[probe.size()][t];
        long[][] mask = new long[probe.size()][t];
        for (int i = 0; i < probe.size(); i++) {
          CalibrationSample s = probe.get(i);
          for (int j = 0; j < s.length(); j++) {
            ids[i][j] = s.inputIds()[j];
            mask[i][j] = s.attentionMask() == null || s.attentionMask()[j] != 0 ? 1 : 0;
          }
        }
        rotationDifference = RotationCheck.compare(original, rotated.proto(), ids, mask);
        if (!rotationDifference.withinTolerance()) {
          throw new RotationRefusedException(
              "the rotated model's outputs differ from the original's by "
                  + rotationDifference.maxAbs()
                  + " ("
                  + rotationDifference.relative()
                  + " of their scale, above "
                  + RotationCheck.TOLERANCE
                  + ")");
        }
        Path p =
            QuantizeModelFiles.writeWorking(
                rotated.proto(), workDir(), "rotated.onnx", ExternalData.AUTO);
        working = OnnxModel.load(p);
        System.err.printf(
            "headwise quantize: rotated (%s, %d norms folded, %d online transforms); max |output"
                + " difference| %.3g of %.3g%n",
            rotated.construction(),
            rotated.foldedNorms().size(),
            rotated.onlineTransforms().size(),
            rotationDifference.maxAbs(),
            rotationDifference.referenceMaxAbs());
      } catch (RotationRefusedException e) {
        rotated = null;
        rotationRefused = e.getMessage();
        System.err.println(
            "headwise quantize: rotation refused: "
                + e.getMessage()
                + "; quantizing without rotation");
      }
    }

    private void quantizeSequentially() {
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
        QuantizeLayers.Pass pass =
            QuantizeLayers.run(
                spark,
                samples,
                parts,
                ModelRef.of(spark, currentModel, shipModel),
                groups,
                List.of(g),
                spec,
                provider,
                ort.threads,
                batchSize,
                truncate);
        collect(pass);
        if (g.id() + 1 < groups.size()) {
          current = QuantizeExport.withDequantized(current, pass.layers(), byOutput, spec.bits());
          Path next =
              QuantizeModelFiles.writeWorking(
                  current, sourceDir, workDir(), "step-" + g.id() + ".onnx", ExternalData.AUTO);
          currentModel = OnnxModel.load(next);
          deleteModelFiles(previous);
          previous = next;
        }
      }
      deleteModelFiles(previous);
    }

    private void collect(QuantizeLayers.Pass pass) {
      for (QuantizedLinear q : pass.layers()) {
        results.put(q.outputTensor(), q);
      }
      tokens = Math.max(tokens, pass.tokens());
      sequences = Math.max(sequences, pass.sequences());
    }

    private void evaluate(OnnxModel quantized) {
      describe("evaluating on held-out samples");
      Dataset<Row> held =
          QuantizeSamples.read(spark, evalSamples, original.modelId(), OptionNames.EVAL_SAMPLES);
      long n = held.count();
      if (n == 0) {
        throw new HeadwiseException("the --eval-samples sources hold no sample");
      }
      int evalParts = (int) Math.max(1, Math.min(parts, n));
      List<QuantizeComparison> partials =
          held.repartition(evalParts)
              .mapPartitions(
                  new QuantizeEvalPartition(
                      ModelRef.of(spark, original, shipModel),
                      ModelRef.of(spark, quantized, shipModel),
                      provider,
                      ort.threads,
                      batchSize),
                  Encoders.javaSerialization(QuantizeComparison.class))
              .collectAsList();
      comparison = new QuantizeComparison();
      partials.forEach(comparison::merge);
    }

    /** Writes the tables, then moves the staged model into place. */
    void commit(QuantizeModelFiles.Staged staged) {
      String modelId = original.modelId();
      Map<String, String> keys = Map.of("model_id", modelId, "run_id", runId);
      List<Warehouse.TableWrite> writes = new ArrayList<>();
      writes.add(
          new Warehouse.TableWrite(
              Tables.QUANT_PLANS, w.rows(Tables.QUANT_PLANS, planRows()), keys));
      Map<String, Long> counts = new LinkedHashMap<>();
      counts.put(Tables.QUANT_PLANS.name(), (long) results.size());
      if (comparison != null) {
        writes.add(
            new Warehouse.TableWrite(
                Tables.EVALUATIONS,
                w.rows(Tables.EVALUATIONS, List.of(evaluationRow())),
                Map.of("model_id", modelId, "run_id", runId, "plan_id", runId)));
        counts.put(Tables.EVALUATIONS.name(), 1L);
      }
      Map<String, Object> conf = new LinkedHashMap<>();
      conf.put("model", model);
      conf.put("calibration", calibration);
      conf.put("method", spec.method());
      conf.put("bits", spec.bits());
      conf.put("group", spec.groupSize());
      conf.put("scheme", spec.symmetric() ? "sym" : "asym");
      conf.put("clip_search", spec.clipSearch());
      conf.put("r_min", spec.rMin());
      conf.put("damp", spec.percentDamp());
      conf.put("act_order", spec.actOrder());
      conf.put("capture", sequential ? CAPTURE_SEQUENTIAL : CAPTURE_FP);
      conf.put("rotate", rotate);
      conf.put("seed", seed);
      conf.put("out", target.toString());
      conf.put("eval_samples", evalSamples);
      conf.put("external_data", external.name().toLowerCase(Locale.ROOT));
      conf.put("ep", provider.toString());
      conf.put("batch_size", batchSize);
      conf.put("partitions", parts);
      conf.put("master", spark.sparkContext().master());
      conf.put("result", summaryJson(staged));
      writes.add(
          new Warehouse.TableWrite(
              Tables.RUNS,
              RunRecords.row(
                  w, runId, STEP, modelId, original.source(), started, conf, counts, summaryLine()),
              RunRecords.keys(modelId, runId, STEP)));
      w.commit(writes, "headwise quantize run " + runId);
      staged.commit();
      samples.unpersist();
      printSummary(staged);
    }

    private String methodLabel() {
      return spec.method() + (rotated != null ? "+rotate" : "");
    }

    private List<Row> planRows() {
      List<Row> rows = new ArrayList<>();
      for (LinearLayer l : layers) {
        QuantizedLinear q = results.get(l.outputTensor());
        ObjectNode p = Json.MAPPER.createObjectNode();
        p.put("node", l.nodeName());
        p.put("output", l.outputTensor());
        p.put("layer", l.layer());
        p.put("writes_residual", l.writesResidual());
        p.put("container_bits", q.containerBits());
        p.put("block_size", q.blockSize());
        p.put("storage", storageNote());
        p.put("clip_search", spec.clipSearch());
        p.put("capture", sequential ? CAPTURE_SEQUENTIAL : CAPTURE_FP);
        if (spec.needsHessian()) {
          p.put("weighting", spec.capture().weighting().name().toLowerCase(Locale.ROOT));
          if (spec.method().equals(QuantizeSpec.RSQ)) {
            p.put("r_min", spec.rMin());
          }
          p.put("hessian_group", q.hessianGroup());
          p.put("calibration_tokens", tokens);
          p.put("calibration_sequences", sequences);
          p.put("gptq_block", spec.gptqOptions().blockSize());
          p.put("percent_damp", spec.percentDamp());
          p.put("act_order", spec.actOrder());
          p.put("damp_attempts", q.dampAttempts());
          p.put("dead_inputs", q.deadInputs());
          p.put("relative_output_error", q.outputError());
        }
        if (rotated != null) {
          p.put("rotation", rotated.construction() + ", seed " + rotated.seed());
        } else if (rotationRefused != null) {
          p.put("rotation_refused", rotationRefused);
        }
        rows.add(
            RowFactory.create(
                original.modelId(),
                runId,
                l.weightName(),
                spec.method(),
                spec.bits(),
                spec.groupSize(),
                q.symmetric(),
                rotated != null,
                l.inFeatures(),
                l.outFeatures(),
                q.damping(),
                q.loss(),
                q.seconds(),
                p.toString()));
      }
      return rows;
    }

    private String storageNote() {
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

    private Row evaluationRow() {
      OutputComparison.Metrics mt = comparison.metrics();
      Double cosine = comparison.pooledCosine() != null ? mt.cosineMean() : null;
      return RowFactory.create(
          original.modelId(),
          runId,
          runId,
          methodLabel(),
          Tables.MODE_PREFILL,
          false,
          null,
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

    private ObjectNode metadata() {
      ObjectNode o = Json.MAPPER.createObjectNode();
      o.put("source_model_id", original.modelId());
      o.put("run_id", runId);
      o.put("method", methodLabel());
      o.put("bits", spec.bits());
      o.put("container_bits", MatMulNBitsPacking.containerBits(spec.bits()));
      o.put("group_size", spec.groupSize());
      o.put("symmetric", spec.symmetric());
      o.put("capture", sequential ? CAPTURE_SEQUENTIAL : CAPTURE_FP);
      o.put("linears", layers.size());
      return o;
    }

    private ObjectNode summaryJson(QuantizeModelFiles.Staged staged) {
      ObjectNode o = Json.MAPPER.createObjectNode();
      o.put("linears", layers.size());
      o.put("hessian_groups", groups.size());
      o.put("calibration_tokens", tokens);
      o.put("original_bytes", originalBytes);
      o.put("quantized_bytes", quantizedBytes);
      o.put("external_data", staged.dataTarget().isPresent());
      o.put("quantize_seconds", seconds);
      if (rotated != null) {
        o.put("rotation", rotated.construction());
        o.put("rotation_max_abs_difference", rotationDifference.maxAbs());
        o.put("rotation_output_scale", rotationDifference.referenceMaxAbs());
        o.put("online_transforms", String.join("; ", rotated.onlineTransforms()));
      }
      if (rotationRefused != null) {
        o.put("rotation_refused", rotationRefused);
      }
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

    private String summaryLine() {
      StringBuilder sb = new StringBuilder();
      sb.append(methodLabel())
          .append(" W")
          .append(spec.bits())
          .append(" g")
          .append(spec.groupSize())
          .append(": ")
          .append(layers.size())
          .append(" linears, ")
          .append(originalBytes)
          .append(" -> ")
          .append(quantizedBytes)
          .append(" bytes");
      if (comparison != null) {
        OutputComparison.Metrics mt = comparison.metrics();
        if (mt.nllReference() != null) {
          sb.append(
              String.format(
                  Locale.ROOT,
                  "; held-out NLL %.4f -> %.4f",
                  mt.nllReference(),
                  mt.nllCandidate()));
        } else if (comparison.pooledCosine() != null) {
          sb.append(String.format(Locale.ROOT, "; pooled cosine %.5f", comparison.pooledCosine()));
        }
      }
      return sb.toString();
    }

    private void printSummary(QuantizeModelFiles.Staged staged) {
      System.out.printf(
          Locale.ROOT,
          "quantize %s: %s W%d g%d (%s) on %d linears in %d Hessian groups%s%n",
          runId,
          methodLabel(),
          spec.bits(),
          spec.groupSize(),
          spec.symmetric() ? "sym" : "asym",
          layers.size(),
          groups.size(),
          spec.needsHessian() ? ", " + tokens + " calibration tokens" : "");
      if (rotationRefused != null) {
        System.out.println("  rotation refused: " + rotationRefused);
      }
      System.out.printf(
          Locale.ROOT,
          "  model: %d -> %d bytes (%.2fx smaller), written to %s%s%n",
          originalBytes,
          quantizedBytes,
          (double) originalBytes / quantizedBytes,
          staged.target(),
          staged.dataTarget().map(p -> " + " + p.getFileName()).orElse(""));
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

    private void describe(String what) {
      spark.sparkContext().setJobDescription("headwise quantize " + runId + ": " + what);
    }
  }

  private static void putNullable(ObjectNode o, String key, Double v) {
    if (v == null) {
      o.putNull(key);
    } else {
      o.put(key, v);
    }
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

  /** Bytes of a model file plus its external data files. */
  static long modelBytes(OnnxModel m) {
    if (m.path().isEmpty()) {
      return m.proto().getSerializedSize();
    }
    try {
      long n = Files.size(m.path().get());
      Set<String> locations = new TreeSet<>();
      m.graph()
          .getInitializerList()
          .forEach(
              t ->
                  t.getExternalDataList()
                      .forEach(
                          e -> {
                            if (e.getKey().equals("location")) {
                              locations.add(e.getValue());
                            }
                          }));
      for (String loc : locations) {
        n += Files.size(m.externalDataDir().orElseThrow().resolve(loc));
      }
      return n;
    } catch (IOException e) {
      throw new HeadwiseException(
          "cannot stat model files of " + m.source() + ": " + e.getMessage(), e);
    }
  }

  /**
   * Deletes a working model file and its data file, if any (sessions already hold what they
   * loaded).
   */
  private static void deleteModelFiles(Path model) {
    if (model == null) {
      return;
    }
    try {
      Files.deleteIfExists(QuantizeModelFiles.dataFile(model));
      Files.deleteIfExists(model);
    } catch (IOException e) {
      System.err.println("headwise quantize: could not remove " + model + ": " + e.getMessage());
    }
  }

  /** A private working directory next to {@code --out} for rotated and partly quantized models. */
  private Path workDir() {
    if (workDir == null) {
      Path t = out.toAbsolutePath().normalize();
      workDir = t.resolveSibling("." + t.getFileName() + ".work-" + UUID.randomUUID());
      try {
        Files.createDirectories(workDir);
      } catch (IOException e) {
        throw new HeadwiseException(
            "cannot create a working directory next to --out: " + e.getMessage(), e);
      }
    }
    return workDir;
  }

  private void deleteWorkDir() {
    if (workDir == null) {
      return;
    }
    try (Stream<Path> s = Files.walk(workDir)) {
      for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    } catch (IOException e) {
      System.err.println("headwise quantize: could not remove " + workDir + ": " + e.getMessage());
    }
    workDir = null;
  }
}
