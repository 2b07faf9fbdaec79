package io.headwise.jobs.cli;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import ai.onnxruntime.OrtSession;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.headwise.export.attention.DecodeLoop;
import io.headwise.graph.ElementType;
import io.headwise.graph.ModelInputs;
import io.headwise.graph.ModelLimits;
import io.headwise.graph.OnnxModel;
import io.headwise.graph.OrtModels;
import io.headwise.schemas.HeadwiseException;
import io.headwise.schemas.Json;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code headwise generate}: a Java decode loop over a decoder with a KV cache (a decode graph from
 * {@code export --decode}, or the dense model exported with past inputs), batch 1. Prints one line
 * per generated token with the bytes held in the caches after that step.
 */
@Command(
    name = "generate",
    mixinStandardHelpOptions = true,
    description =
        "Generate tokens with a decoder that has a KV cache (a decode graph from export --decode, or the"
            + " dense model exported with past inputs), printing each token and the bytes held in the caches.")
public final class GenerateCommand implements Callable<Integer> {
  static final String PROMPT_IDS = "--prompt-ids";
  static final String MAX_NEW_TOKENS = "--max-new-tokens";
  static final String MAX_POSITIONS = "--max-positions";

  /** config.json keys (Hugging Face) naming the positions a model was trained for. */
  private static final List<String> POSITION_KEYS =
      List.of("max_position_embeddings", "n_positions", "max_sequence_length");

  @Mixin ConfigOption config;

  @Option(
      names = OptionNames.MODEL,
      required = true,
      paramLabel = "M.onnx",
      description = "Decoder with KV-cache inputs (past_key_values.* or a decode graph's past.*).")
  Path model;

  @Option(
      names = PROMPT_IDS,
      required = true,
      paramLabel = "FILE",
      description =
          "Prompt token ids: a JSON array of integers, or integers separated by spaces/commas/newlines.")
  Path promptIds;

  @Option(
      names = MAX_NEW_TOKENS,
      required = true,
      description = "Tokens to generate after the prompt.")
  int maxNewTokens;

  @ArgGroup(exclusive = true)
  Sampling sampling = new Sampling();

  @Option(
      names = OptionNames.SEED,
      defaultValue = "0",
      description = "Seed of the sampler (with --temperature).")
  long seed;

  @Option(
      names = OptionNames.THREADS,
      defaultValue = "0",
      description = "ONNX Runtime intra-op threads (0: ORT).")
  int threads;

  @Option(
      names = OptionNames.JSON,
      description = "Print one JSON object at the end instead of per-step lines.")
  boolean json;

  @Option(
      names = MAX_POSITIONS,
      paramLabel = "N",
      description =
          "Positions the model was trained for, when the graph does not say (RoPE computed from"
              + " position_ids has no table) and no config.json next to the model names"
              + " max_position_embeddings; a learned position table's rows are used otherwise.")
  Integer maxPositions;

  /** How many positions the model has and where that number comes from. */
  record Positions(long count, String source) {}

  /**
   * The model's positions: {@code --max-positions}, else the rows of a learned position table, else
   * {@code max_position_embeddings} (or {@code n_positions}, {@code max_sequence_length}) in a
   * {@code config.json} next to the model (Optimum exports write one); null when none says.
   */
  private Positions positions(OnnxModel m, ModelLimits limits) {
    if (maxPositions != null) {
      if (maxPositions <= 0) {
        throw new HeadwiseException(MAX_POSITIONS + " must be positive, got " + maxPositions);
      }
      return new Positions(maxPositions, MAX_POSITIONS);
    }
    if (limits.maxPositions() > 0) {
      return new Positions(limits.maxPositions(), "rows of its position embedding table");
    }
    Path config = model.toAbsolutePath().resolveSibling("config.json");
    if (Files.isRegularFile(config)) {
      JsonNode c;
      try {
        c = Json.MAPPER.readTree(config.toFile());
      } catch (IOException e) {
        throw new HeadwiseException("cannot read " + config + ": " + e.getMessage(), e);
      }
      for (String k : POSITION_KEYS) {
        if (c != null && c.path(k).canConvertToLong() && c.path(k).asLong() > 0) {
          return new Positions(c.path(k).asLong(), k + " in " + config);
        }
      }
    }
    return null;
  }

  /** Greedy (default) or sampling at a temperature. */
  static final class Sampling {
    @Option(names = "--greedy", description = "Take the most likely token at every step (default).")
    boolean greedy;

    @Option(
        names = "--temperature",
        paramLabel = "T",
        description = "Sample from softmax(logits / T), T > 0.")
    Double temperature;
  }

  @Override
  public Integer call() throws Exception {
    if (maxNewTokens < 0) {
      throw new HeadwiseException(
          MAX_NEW_TOKENS + " is " + maxNewTokens + "; give 0 or more tokens");
    }
    if (sampling.temperature != null
        && !(sampling.temperature > 0 && Double.isFinite(sampling.temperature))) {
      throw new HeadwiseException(
          "--temperature must be a positive number, got " + sampling.temperature);
    }
    long[] prompt = readIds(promptIds);
    OnnxModel m = OnnxModel.load(model).cacheBranch(); // a merged decoder runs its cache branch
    GraphProto graph = m.graph();
    String ids =
        graph.getInputList().stream()
            .map(ValueInfoProto::getName)
            .filter(n -> n.toLowerCase(Locale.ROOT).contains("input_ids"))
            .findFirst()
            .orElseThrow(
                () -> new HeadwiseException("model " + m.source() + " has no input_ids input"));
    ModelLimits limits =
        ModelLimits.of(
            graph,
            new ModelInputs(
                ids,
                ElementType.INT64,
                Optional.empty(),
                ElementType.INT64,
                Optional.empty(),
                Optional.empty(),
                List.of()));
    for (long t : prompt) {
      if (t < 0 || (limits.vocabSize() > 0 && t >= limits.vocabSize())) {
        throw new HeadwiseException(
            "prompt token id "
                + t
                + " in "
                + promptIds
                + " is outside the vocabulary of "
                + m.source()
                + " (0.."
                + (limits.vocabSize() - 1)
                + ")");
      }
    }
    long total = (long) prompt.length + maxNewTokens;
    Positions positions = positions(m, limits);
    if (positions != null && total > positions.count()) {
      throw new HeadwiseException(
          (prompt.length > positions.count()
                  ? "prompt ids " + promptIds + " hold " + prompt.length + " tokens, more than"
                  : "prompt ("
                      + prompt.length
                      + " tokens) plus "
                      + maxNewTokens
                      + " new tokens is "
                      + total
                      + " positions, more than")
              + " the "
              + positions.count()
              + " positions of "
              + m.source()
              + " ("
              + positions.source()
              + "); nothing generated");
    }
    Random random = new Random(seed);
    PrintStream out = System.out;
    List<Long> generated = new ArrayList<>();
    List<Long> bytes = new ArrayList<>();
    List<Long> stepNanos = new ArrayList<>();
    long keyValueBytes = 0;
    long started = System.nanoTime();
    long decodeStarted;
    try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
      if (threads > 0) {
        options.setIntraOpNumThreads(threads);
      }
      try (OrtSession session = OrtModels.session(m, m.proto(), options);
          DecodeLoop loop = new DecodeLoop(session, graph)) {
        float[] logits = loop.step(prompt);
        decodeStarted = System.nanoTime();
        if (!json) {
          out.printf(
              Locale.ROOT, "prompt: %d tokens, cache %d bytes%n", prompt.length, loop.cacheBytes());
        }
        for (int i = 0; i < maxNewTokens; i++) {
          long next =
              sampling.temperature == null
                  ? argmax(logits)
                  : sample(logits, sampling.temperature, random);
          long t0 = System.nanoTime();
          logits = loop.step(new long[] {next});
          stepNanos.add(System.nanoTime() - t0);
          generated.add(next);
          bytes.add(loop.cacheBytes());
          if (!json) {
            out.printf(Locale.ROOT, "%d\t%d\t%d%n", prompt.length + i, next, loop.cacheBytes());
          }
        }
        keyValueBytes = loop.keyValueBytes();
      }
    }
    double decodeSeconds = (System.nanoTime() - decodeStarted) / 1e9;
    double totalSeconds = (System.nanoTime() - started) / 1e9;
    if (json) {
      ObjectMapper mapper = Json.MAPPER;
      var root = mapper.createObjectNode();
      root.put("prompt_tokens", prompt.length);
      root.putPOJO("tokens", generated);
      root.put("final_cache_bytes", bytes.isEmpty() ? 0 : bytes.get(bytes.size() - 1));
      root.put("final_key_value_bytes", keyValueBytes);
      if (maxNewTokens
          <= 4096) { // per-step bytes only for short runs (the bench reads the final numbers)
        root.putPOJO("cache_bytes", bytes);
      }
      int last = Math.min(256, stepNanos.size());
      long lastNanos = 0;
      for (int i = stepNanos.size() - last; i < stepNanos.size(); i++) {
        lastNanos += stepNanos.get(i);
      }
      root.put("tokens_per_second", decodeSeconds > 0 ? generated.size() / decodeSeconds : 0.0);
      root.put("last_256_tokens_per_second", lastNanos > 0 ? last / (lastNanos / 1e9) : 0.0);
      root.put("peak_rss_kb", peakRssKb());
      root.put("decode_seconds", decodeSeconds);
      root.put("seconds", totalSeconds);
      out.println(mapper.writeValueAsString(root));
    } else {
      StringBuilder s = new StringBuilder();
      generated.forEach(t -> s.append(s.length() == 0 ? "" : " ").append(t));
      out.println("tokens: " + s);
      out.printf(
          Locale.ROOT,
          "%d tokens in %.3f s after the prompt (%.1f tokens/s)%n",
          generated.size(),
          decodeSeconds,
          decodeSeconds > 0 ? generated.size() / decodeSeconds : 0.0);
    }
    return 0;
  }

  /** VmHWM of this process (Linux), or -1. */
  static long peakRssKb() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
        if (line.startsWith("VmHWM:")) {
          return Long.parseLong(line.replaceAll("[^0-9]", ""));
        }
      }
    } catch (IOException | RuntimeException e) {
      return -1;
    }
    return -1;
  }

  static long argmax(float[] logits) {
    int best = 0;
    for (int i = 1; i < logits.length; i++) {
      if (logits[i] > logits[best]) {
        best = i;
      }
    }
    return best;
  }

  static long sample(float[] logits, double temperature, Random random) {
    double max = Double.NEGATIVE_INFINITY;
    for (float l : logits) {
      max = Math.max(max, l);
    }
    double[] p = new double[logits.length];
    double sum = 0;
    for (int i = 0; i < logits.length; i++) {
      p[i] = Math.exp((logits[i] - max) / temperature);
      sum += p[i];
    }
    double u = random.nextDouble() * sum;
    for (int i = 0; i < p.length; i++) {
      u -= p[i];
      if (u <= 0) {
        return i;
      }
    }
    return p.length - 1;
  }

  /** Token ids from a JSON array or whitespace/comma-separated integers. */
  static long[] readIds(Path file) {
    String text;
    try {
      text = Files.readString(file).trim();
    } catch (IOException e) {
      throw new HeadwiseException("cannot read prompt ids " + file + ": " + e.getMessage(), e);
    }
    List<Long> ids = new ArrayList<>();
    try {
      if (text.startsWith("[")) {
        JsonNode array = Json.MAPPER.readTree(text);
        for (JsonNode n : array) {
          if (!n.canConvertToLong() || !n.isIntegralNumber()) {
            throw new HeadwiseException(
                "prompt ids " + file + " hold '" + n + "', not an integer token id");
          }
          ids.add(n.asLong());
        }
      } else {
        for (String part : text.split("[\\s,]+")) {
          if (!part.isEmpty()) {
            ids.add(Long.parseLong(part));
          }
        }
      }
    } catch (IOException | NumberFormatException e) {
      throw new HeadwiseException(
          "prompt ids "
              + file
              + " are not a JSON array of integers nor integers separated"
              + " by spaces or commas: "
              + e.getMessage(),
          e);
    }
    if (ids.isEmpty()) {
      throw new HeadwiseException("prompt ids " + file + " hold no token; give at least one");
    }
    return ids.stream().mapToLong(Long::longValue).toArray();
  }
}
