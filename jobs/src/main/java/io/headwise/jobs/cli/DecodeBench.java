package io.headwise.jobs.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.headwise.schemas.HeadwiseException;
import io.headwise.schemas.Json;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code headwise bench decode}: greedy generation with the dense decoder and with decode graphs of
 * plans ({@code export --decode}), each run in its own JVM ({@code generate --json}): cache bytes
 * at the end, peak RSS, tokens/s over the whole run and over its last 256 tokens. Same prompt,
 * threads and lengths for every graph. Plans named by id ({@code --plan}) are exported first, each
 * by {@code export --decode} in its own JVM; a plan the decode export refuses (a budget head of a
 * method headwise does not implement, a plan for another model) gets a row saying so, with the
 * export's reason, instead of numbers.
 */
@Command(
    name = "decode",
    mixinStandardHelpOptions = true,
    description =
        "Dense vs decode graphs of plans: cache bytes after N generated tokens, peak RSS, tokens/s (each"
            + " run in its own JVM).")
final class DecodeBench implements Callable<Integer> {
  @Option(
      names = "--graph",
      required = true,
      paramLabel = "NAME=PATH",
      description =
          "A decoder to run, repeatable; the first is the reference (the dense model with past inputs).")
  List<String> graphs;

  @Option(
      names = "--plan",
      paramLabel = "NAME=PLAN_ID",
      description =
          "A plan to export with export --decode and run after the --graph ones, repeatable; needs"
              + " --warehouse, --decoder and --plan-model. A plan the decode export refuses gets a row"
              + " that says so.")
  List<String> plans = new ArrayList<>();

  @Option(
      names = OptionNames.WAREHOUSE,
      paramLabel = "DIR",
      description = "With --plan: the warehouse holding the plans.")
  Path warehouse;

  @Option(
      names = "--decoder",
      paramLabel = "PATH",
      description = "With --plan: the model exported with its KV cache (export --decode --model).")
  Path decoder;

  @Option(
      names = "--plan-model",
      paramLabel = "PATH",
      description =
          "With --plan: the model the plans were made for (export --decode --plan-model).")
  Path planModel;

  @Option(
      names = "--tokens",
      split = ",",
      defaultValue = "2048,8192",
      description = "Tokens to generate.")
  List<Integer> tokens;

  @Option(
      names = "--prompt-ids",
      paramLabel = "FILE",
      description = "Prompt ids (default: the token 1).")
  Path prompt;

  @Option(
      names = OptionNames.THREADS,
      defaultValue = "1",
      description = "ONNX Runtime intra-op threads per run.")
  int threads;

  @Override
  public Integer call() throws Exception {
    Map<String, Path> runs = new LinkedHashMap<>();
    for (String g : graphs) {
      int eq = g.indexOf('=');
      if (eq <= 0 || !Files.exists(Path.of(g.substring(eq + 1)))) {
        throw new HeadwiseException(
            "--graph needs NAME=PATH with an existing file, got '" + g + "'");
      }
      runs.put(g.substring(0, eq), Path.of(g.substring(eq + 1)));
    }
    Map<String, String> planIds = new LinkedHashMap<>();
    for (String p : plans) {
      int eq = p.indexOf('=');
      if (eq <= 0 || eq == p.length() - 1) {
        throw new HeadwiseException("--plan needs NAME=PLAN_ID, got '" + p + "'");
      }
      if (runs.containsKey(p.substring(0, eq)) || planIds.containsKey(p.substring(0, eq))) {
        throw new HeadwiseException("two graphs are named '" + p.substring(0, eq) + "'");
      }
      planIds.put(p.substring(0, eq), p.substring(eq + 1));
    }
    if (!planIds.isEmpty()) {
      Map<String, Object> needed = new LinkedHashMap<>();
      needed.put(OptionNames.WAREHOUSE, warehouse);
      needed.put("--decoder", decoder);
      needed.put("--plan-model", planModel);
      for (Map.Entry<String, Object> o : needed.entrySet()) {
        if (o.getValue() == null) {
          throw new HeadwiseException("--plan needs " + o.getKey());
        }
      }
      for (Path f : List.of(decoder, planModel)) {
        if (!Files.isRegularFile(f)) {
          throw new HeadwiseException("model " + f + " not found");
        }
      }
    }
    Path dir = Files.createTempDirectory("headwise-bench-decode");
    // plans first: a refusal is known before any run, and every row is printed in order below
    Map<String, String> refused = new LinkedHashMap<>();
    for (Map.Entry<String, String> e : planIds.entrySet()) {
      Path out = dir.resolve(e.getKey() + ".onnx");
      Path log = dir.resolve(e.getKey() + "-export.log");
      int code =
          child(
              List.of(
                  "export",
                  "--decode",
                  "--model",
                  decoder.toString(),
                  "--plan-model",
                  planModel.toString(),
                  OptionNames.WAREHOUSE,
                  warehouse.toString(),
                  OptionNames.PLAN_ID,
                  e.getValue(),
                  OptionNames.OUT,
                  out.toString()),
              log);
      if (code == 0) {
        runs.put(e.getKey(), out);
      } else if (code == 2) { // bad input: the one error line says why
        String reason =
            Files.readAllLines(log).stream()
                .filter(l -> l.startsWith("headwise: error: "))
                .map(l -> l.substring("headwise: error: ".length()))
                .findFirst()
                .orElse("see " + log);
        refused.put(e.getKey(), reason);
      } else {
        throw new IllegalStateException(
            "export --decode of plan " + e.getValue() + " failed; see " + log);
      }
    }
    Path promptFile = prompt != null ? prompt : Files.writeString(dir.resolve("prompt.txt"), "1");
    System.out.printf(
        "%-14s %7s %14s %14s %8s %12s %10s %12s%n",
        "graph",
        "tokens",
        "cache bytes",
        "k/v bytes",
        "of dense",
        "peak RSS MiB",
        "tokens/s",
        "last-256 t/s");
    for (int n : tokens) {
      long denseBytes = -1;
      double denseRate = -1;
      for (Map.Entry<String, Path> e : runs.entrySet()) {
        JsonNode r = run(e.getValue(), promptFile, n, dir.resolve(e.getKey() + "-" + n + ".log"));
        long bytes = r.get("final_cache_bytes").asLong();
        if (denseBytes < 0) {
          denseBytes = bytes;
          denseRate = r.get("last_256_tokens_per_second").asDouble();
        }
        System.out.printf(
            Locale.ROOT,
            "%-14s %7d %14d %14d %8.3f %12.1f %10.1f %12.1f%s%n",
            e.getKey(),
            n,
            bytes,
            r.get("final_key_value_bytes").asLong(),
            (double) bytes / denseBytes,
            r.get("peak_rss_kb").asLong() / 1024.0,
            r.get("tokens_per_second").asDouble(),
            r.get("last_256_tokens_per_second").asDouble(),
            String.format(
                Locale.ROOT,
                " (%.2fx dense)",
                r.get("last_256_tokens_per_second").asDouble() / denseRate));
      }
      for (Map.Entry<String, String> e : refused.entrySet()) {
        System.out.printf(
            Locale.ROOT,
            "%-14s %7d  not run: plan %s is not exportable at decode: %s%n",
            e.getKey(),
            n,
            planIds.get(e.getKey()),
            e.getValue());
      }
    }
    return 0;
  }

  /** Runs {@code headwise ARGS} in its own JVM, stdout and stderr to {@code log}; the exit code. */
  private static int child(List<String> args, Path log) throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>(java());
    cmd.addAll(args);
    Process p =
        new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    return p.waitFor();
  }

  /** The command line of a child JVM running the headwise CLI: java, options, class path, main. */
  private static List<String> java() {
    List<String> cmd =
        new ArrayList<>(
            List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx2g"));
    cmd.addAll(
        java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments().stream()
            .filter(a -> a.startsWith("--add-opens") || a.startsWith("-Dlog4j2"))
            .toList());
    cmd.addAll(
        List.of("-cp", System.getProperty("java.class.path"), HeadwiseCommand.class.getName()));
    return cmd;
  }

  private JsonNode run(Path graph, Path promptFile, int n, Path log)
      throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>(java());
    cmd.addAll(
        List.of(
            "generate",
            "--model",
            graph.toString(),
            "--prompt-ids",
            promptFile.toString(),
            "--max-new-tokens",
            String.valueOf(n),
            "--threads",
            String.valueOf(threads),
            "--json"));
    Process p = new ProcessBuilder(cmd).redirectError(log.toFile()).start();
    String out =
        new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
    if (p.waitFor() != 0) {
      throw new IllegalStateException("generate with " + graph + " failed; see " + log);
    }
    String last = out.strip().lines().reduce((a, b) -> b).orElse("{}");
    return Json.MAPPER.readTree(last);
  }
}
