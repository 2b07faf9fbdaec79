package io.headwise.jobs;

import io.headwise.graph.DefaultModel;
import io.headwise.graph.ModelInputs;
import io.headwise.graph.ModelLimits;
import io.headwise.graph.OnnxModel;
import io.headwise.graph.StatedPositions;
import io.headwise.jobs.cli.Cli;
import io.headwise.jobs.cli.ConfigOption;
import io.headwise.jobs.cli.ModelOption;
import io.headwise.jobs.cli.OptionNames;
import io.headwise.jobs.spark.CalibrationRows;
import io.headwise.jobs.spark.CalibrationSources;
import io.headwise.jobs.spark.SparkErrors;
import io.headwise.jobs.spark.SparkSessions;
import io.headwise.jobs.warehouse.RunRecords;
import io.headwise.jobs.warehouse.Warehouse;
import io.headwise.profilers.CalibrationSample;
import io.headwise.profilers.SampleChecks;
import io.headwise.profilers.calibration.PasskeyProbes;
import io.headwise.profilers.calibration.RepeatProbes;
import io.headwise.profilers.calibration.SelfGenerated;
import io.headwise.profilers.calibration.TextChunks;
import io.headwise.schemas.HeadwiseException;
import io.headwise.schemas.Tables;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.LongStream;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * The calibrate step ({@code headwise calibrate}; {@code spark-submit --class
 * io.headwise.jobs.CalibrateJob}): writes calibration samples — text chunked with the model's
 * tokenizer, repeated-random-token probes, passkey probes and model-generated samples — to a JSONL
 * file or to the {@code calibration_samples} table.
 *
 * <p>One class (about 460 lines): most of it is the options of the four sources and the code that
 * hands them to the generators, which live in {@code profilers} ({@code RepeatProbes}, {@code
 * PasskeyProbes}, {@code SelfGenerated}, {@code TextChunks}); splitting the option fields from the
 * code that reads them would only add a parameter record between them.
 */
@Command(
    name = "calibrate",
    mixinStandardHelpOptions = true,
    description =
        "Write calibration samples (text, repeat/passkey probes, self-generated) as JSONL or Delta.")
public final class CalibrateJob implements Callable<Integer> {
  public static final String STEP = "calibrate";
  public static final String COUNT = "--count";
  public static final String PROBE_LENGTH = "--probe-length";
  public static final String LENGTHS = "--lengths";
  public static final String REPEAT_PERIOD = "--repeat-period";
  public static final String REPEAT_COUNT = "--repeat-count";
  public static final String ID_RANGE = "--id-range";
  public static final String LEADING_TOKEN = "--leading-token";
  public static final String NEEDLE_LENGTH = "--needle-length";
  public static final String NEEDLE_DEPTH = "--needle-depth";
  public static final String TEMPERATURE = "--temperature";
  public static final String START_TOKEN = "--start-token";

  @Mixin ConfigOption config;

  @Mixin ModelOption model;

  @Option(
      names = OptionNames.TEXT,
      paramLabel = "FILE",
      description = "Text: one document per line, or a Parquet/Delta table with a 'text' column.")
  String text;

  @Option(
      names = OptionNames.PROBES,
      split = ",",
      paramLabel = "KIND,...",
      description = "Probes to generate: repeat, passkey, self.")
  List<String> probes;

  @Option(names = OptionNames.SEED, defaultValue = "0", description = "Seed of every generator.")
  long seed;

  @Option(names = OptionNames.OUT, paramLabel = "FILE.jsonl", description = "Write JSONL here.")
  Path out;

  @Option(names = OptionNames.RUN_ID, description = "Run id (needed with --warehouse).")
  String runId;

  @Option(
      names = OptionNames.WAREHOUSE,
      paramLabel = "DIR",
      description = "Write the calibration_samples Delta table under this warehouse root.")
  Path warehouseRoot;

  @Option(
      names = OptionNames.MASTER,
      paramLabel = "URL",
      description = "Spark master for --warehouse writes.")
  String master;

  @Option(
      names = OptionNames.TOKENIZER,
      paramLabel = "tokenizer.json",
      description =
          "Hugging Face tokenizer for --text (default: next to the model, or the embedded one).")
  Path tokenizer;

  @Option(
      names = OptionNames.MAX_LENGTH,
      defaultValue = "256",
      description = "Maximum tokens per text chunk (default: ${DEFAULT-VALUE}).")
  int maxLength;

  @Option(
      names = COUNT,
      defaultValue = "8",
      description = "Samples per probe kind (default: ${DEFAULT-VALUE}).")
  int count;

  @Option(
      names = PROBE_LENGTH,
      paramLabel = "N",
      description = "Tokens per probe, one length (same as --lengths N).")
  Integer probeLength;

  @Option(
      names = LENGTHS,
      split = ",",
      paramLabel = "N,...",
      description =
          "Probe lengths: --count probes of each"
              + " kind at each length, so that every length a plan targets has probe evidence (default: a spread up to the"
              + " model's context: N/4, N/2 and N for a model with N positions (its position table, else"
              + " max_position_embeddings in its metadata or a config.json beside it), clamped to [64, 2048]; 256 when"
              + " nothing states them).")
  List<Integer> lengths;

  @Option(
      names = REPEAT_PERIOD,
      defaultValue = "0",
      description = "Repeat probes: segment length (0 = (probe length - 1) / repeat count).")
  int repeatPeriod;

  // two copies by default: the period (L - 1) / 2 is the longest copy distance a probe of length L
  // can show, so a retrieval head's dependency reaches as far as the probe does (with four copies a
  // 256-token probe shows distance 63 only, and a plan for length 400 was free to cut it)
  @Option(
      names = REPEAT_COUNT,
      defaultValue = "2",
      description =
          "Repeat probes: repeats R (default: ${DEFAULT-VALUE}: the copy distance is half the"
              + " probe, the longest it can show).")
  int repeatCount;

  @Option(
      names = ID_RANGE,
      paramLabel = "LO:HI",
      description =
          "Random token ids are drawn from [LO, HI) (default: the upper 90 %% of the vocabulary).")
  String idRange;

  @Option(
      names = LEADING_TOKEN,
      defaultValue = "-2",
      description =
          "Token put first in every probe (-1 = none; default: the tokenizer's CLS/BOS, else 1 for"
              + " decoders and none for encoders).")
  int leadingToken;

  @Option(
      names = NEEDLE_LENGTH,
      defaultValue = "16",
      description = "Passkey needle length (default: ${DEFAULT-VALUE}).")
  int needleLength;

  @Option(
      names = NEEDLE_DEPTH,
      defaultValue = "0.3",
      description = "Passkey needle depth in the haystack, 0..1 (default: ${DEFAULT-VALUE}).")
  double needleDepth;

  @Option(
      names = TEMPERATURE,
      defaultValue = "1.0",
      description = "Self-generated samples: temperature.")
  double temperature;

  @Option(
      names = START_TOKEN,
      defaultValue = "1",
      description = "Self-generated samples: first token (BOS).")
  int startToken;

  /** spark-submit entry point. */
  public static void main(String[] args) {
    System.exit(Cli.run(new CalibrateJob(), args));
  }

  @Override
  public Integer call() throws IOException {
    Instant started = Instant.now();
    if ((out == null) == (warehouseRoot == null)) {
      throw new HeadwiseException(
          "give exactly one of "
              + OptionNames.OUT
              + " FILE.jsonl or "
              + OptionNames.WAREHOUSE
              + " DIR");
    }
    if (warehouseRoot != null && (runId == null || runId.isBlank())) {
      throw new HeadwiseException(OptionNames.WAREHOUSE + " needs " + OptionNames.RUN_ID);
    }
    if (text == null && (probes == null || probes.isEmpty())) {
      throw new HeadwiseException(
          "nothing to generate: give "
              + OptionNames.TEXT
              + " FILE and/or "
              + OptionNames.PROBES
              + " repeat,passkey,self");
    }
    OnnxModel m = model.load();
    ModelLimits limits = ModelLimits.of(m.graph(), ModelInputs.of(m.graph()));
    List<CalibrationSample> samples = generate(m, limits);
    samples = SampleChecks.validate(samples, limits, false);
    if (out != null) {
      CalibrationSources.writeJsonl(samples, out);
      System.err.printf("headwise calibrate: wrote %d samples to %s%n", samples.size(), out);
      return 0;
    }
    SparkSession spark = SparkSessions.get(master, "headwise calibrate " + runId);
    try {
      Warehouse w = new Warehouse(spark, warehouseRoot);
      List<Row> rows = new ArrayList<>();
      for (CalibrationSample s : samples) {
        rows.add(CalibrationRows.toTableRow(m.modelId(), runId, s, seed));
      }
      Map<String, String> keys = Map.of("model_id", m.modelId(), "run_id", runId);
      Map<String, Object> conf = new LinkedHashMap<>();
      conf.put("model", model.model);
      conf.put("text", text);
      conf.put("probes", probes);
      conf.put("seed", seed);
      conf.put("count", count);
      conf.put("probe_lengths", probeLengths(limits, context(m, limits)));
      Map<String, Long> counts = Map.of(Tables.CALIBRATION_SAMPLES.name(), (long) rows.size());
      w.commit(
          List.of(
              new Warehouse.TableWrite(
                  Tables.CALIBRATION_SAMPLES, w.rows(Tables.CALIBRATION_SAMPLES, rows), keys),
              RunRecords.write(
                  w,
                  runId,
                  STEP,
                  m.modelId(),
                  m.source(),
                  started,
                  conf,
                  counts,
                  summary(samples))),
          "headwise calibrate run " + runId);
      System.err.printf(
          "headwise calibrate: wrote %d samples to %s%n",
          rows.size(), w.path(Tables.CALIBRATION_SAMPLES));
      return 0;
    } catch (RuntimeException e) {
      throw SparkErrors.unwrap(e);
    }
  }

  private List<CalibrationSample> generate(OnnxModel m, ModelLimits limits) throws IOException {
    List<CalibrationSample> samples = new ArrayList<>();
    boolean isDefault = m.source().equals(DefaultModel.NAME);
    Path tok = tokenizer;
    if (tok == null && m.path().isPresent()) {
      Path beside = m.path().get().getParent().resolve("tokenizer.json");
      tok = Files.exists(beside) ? beside : null;
    }
    List<int[]> haystacks = new ArrayList<>();
    if (text != null) {
      int len =
          limits.maxPositions() > 0 ? (int) Math.min(maxLength, limits.maxPositions()) : maxLength;
      try (TextChunks chunks = TextChunks.open(tok, isDefault, m.source(), len)) {
        List<CalibrationSample> t = chunks.chunk("", readDocuments(text));
        if (t.isEmpty()) {
          throw new HeadwiseException("--text " + text + " holds no text to calibrate on");
        }
        samples.addAll(t);
        t.forEach(s -> haystacks.add(s.inputIds()));
      }
    }
    if (probes == null) {
      return samples;
    }
    IdRange range = idRange(limits);
    boolean decoder = !isDefault;
    int lead = leadingToken != -2 ? leadingToken : isDefault ? 101 : (decoder ? 1 : -1);
    List<Integer> probeLengths = probeLengths(limits, context(m, limits));
    for (String p : probes) {
      for (int probeLength : probeLengths) {
        // one length keeps the historical sample ids; several are told apart by a length prefix and
        // their own seeds
        String prefix = probeLengths.size() == 1 ? "" : "len" + probeLength + "-";
        long s = probeLengths.size() == 1 ? seed : seed + 1000L * probeLength;
        switch (p.trim().toLowerCase(Locale.ROOT)) {
          case "repeat":
            {
              int lengthWithoutLead = probeLength - (lead >= 0 ? 1 : 0);
              int period =
                  repeatPeriod > 0 ? repeatPeriod : Math.max(2, lengthWithoutLead / repeatCount);
              samples.addAll(
                  new RepeatProbes(count, period, repeatCount, range.lo(), range.hi(), lead, s)
                      .generate(prefix));
              break;
            }
          case "passkey":
            samples.addAll(
                new PasskeyProbes(
                        count,
                        probeLength,
                        needleLength,
                        Math.max(1, needleLength / 4),
                        needleDepth,
                        range.lo(),
                        range.hi(),
                        lead,
                        s + 1)
                    .generate(prefix, haystacks));
            break;
          case "self":
            samples.addAll(
                new SelfGenerated(count, probeLength, temperature, startToken, s + 2)
                    .generate(prefix, m, 0));
            break;
          default:
            throw new HeadwiseException(
                "unknown probe '"
                    + p
                    + "' in "
                    + OptionNames.PROBES
                    + "; valid: repeat, passkey, self");
        }
      }
    }
    return samples;
  }

  /**
   * The model's context: its position table's size, else the positions its metadata or a {@code
   * config.json} beside it states (rotary decoders, {@link StatedPositions}), else 0 (unknown).
   */
  private static long context(OnnxModel m, ModelLimits limits) {
    return limits.maxPositions() > 0
        ? limits.maxPositions()
        : StatedPositions.of(m).map(StatedPositions::positions).orElse(0L);
  }

  /**
   * The probe lengths: --lengths, else --probe-length, else a spread up to the model's {@code
   * context} (0: unknown).
   */
  List<Integer> probeLengths(ModelLimits limits, long context) {
    if (lengths != null && probeLength != null) {
      throw new HeadwiseException("give " + LENGTHS + " or " + PROBE_LENGTH + ", not both");
    }
    List<Integer> out;
    if (lengths != null) {
      out = lengths.stream().distinct().sorted().toList();
    } else if (probeLength != null) {
      out = List.of(probeLength);
    } else if (context > 0) {
      long n = context;
      out =
          LongStream.of(n / 4, n / 2, n)
              .mapToInt(x -> (int) Math.max(64, Math.min(2048, x)))
              .distinct()
              .sorted()
              .boxed()
              .toList();
    } else {
      out = List.of(256);
    }
    for (int n : out) {
      if (n < 8) {
        throw new HeadwiseException(
            "probe length " + n + " is too short; give lengths of at least 8 tokens");
      }
      if (limits.maxPositions() > 0 && n > limits.maxPositions()) {
        throw new HeadwiseException(
            "probe length "
                + n
                + " exceeds the "
                + limits.maxPositions()
                + " positions the model accepts");
      }
    }
    return out;
  }

  /**
   * The token ids probes draw from.
   *
   * @param lo first id
   * @param hi end of the range (exclusive, as the probe generators take it)
   */
  private record IdRange(int lo, int hi) {}

  private IdRange idRange(ModelLimits limits) {
    if (idRange != null) {
      String[] parts = idRange.split(":");
      try {
        int lo = Integer.parseInt(parts[0].trim());
        int hi = Integer.parseInt(parts[1].trim());
        if (limits.vocabSize() > 0 && hi > limits.vocabSize()) {
          throw new HeadwiseException(
              ID_RANGE
                  + " "
                  + idRange
                  + " reaches beyond the vocabulary ("
                  + limits.vocabSize()
                  + " ids)");
        }
        return new IdRange(lo, hi);
      } catch (NumberFormatException | ArrayIndexOutOfBoundsException e) {
        throw new HeadwiseException(ID_RANGE + " must be LO:HI, got '" + idRange + "'");
      }
    }
    if (limits.vocabSize() <= 0) {
      throw new HeadwiseException(
          "the model does not say its vocabulary size; give " + ID_RANGE + " LO:HI");
    }
    int hi = (int) limits.vocabSize();
    return new IdRange(Math.max(3, hi / 10), hi);
  }

  private static List<String> readDocuments(String text) throws IOException {
    Path p = Path.of(text);
    if (!Files.exists(p)) {
      throw new HeadwiseException(OptionNames.TEXT + " file not found: " + text);
    }
    if (Files.isRegularFile(p)) {
      return Files.readAllLines(p, StandardCharsets.UTF_8);
    }
    SparkSession spark = SparkSessions.get(null, "headwise calibrate text");
    org.apache.spark.sql.Dataset<Row> d =
        Files.isDirectory(p.resolve("_delta_log"))
            ? spark.read().format("delta").load(text)
            : spark.read().parquet(text);
    if (!List.of(d.columns()).contains("text")) {
      throw new HeadwiseException(OptionNames.TEXT + " table " + text + " has no 'text' column");
    }
    List<String> docs = new ArrayList<>();
    for (Row r : d.select("text").collectAsList()) {
      if (!r.isNullAt(0)) {
        docs.add(r.getString(0));
      }
    }
    return docs;
  }

  private static String summary(List<CalibrationSample> samples) {
    Map<String, Integer> bySource = new LinkedHashMap<>();
    samples.forEach(s -> bySource.merge(s.source(), 1, Integer::sum));
    return "samples by source " + bySource;
  }
}
