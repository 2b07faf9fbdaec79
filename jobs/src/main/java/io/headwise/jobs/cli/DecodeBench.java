package io.headwise.jobs.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.headwise.schemas.HeadwiseException;
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
 * threads and lengths for every graph.
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
    Path dir = Files.createTempDirectory("headwise-bench-decode");
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
    }
    return 0;
  }

  private JsonNode run(Path graph, Path promptFile, int n, Path log)
      throws IOException, InterruptedException {
    List<String> cmd =
        new ArrayList<>(
            List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx2g"));
    cmd.addAll(
        java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments().stream()
            .filter(a -> a.startsWith("--add-opens") || a.startsWith("-Dlog4j2"))
            .toList());
    cmd.addAll(
        List.of(
            "-cp",
            System.getProperty("java.class.path"),
            HeadwiseCommand.class.getName(),
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
    return new ObjectMapper().readTree(last);
  }
}
