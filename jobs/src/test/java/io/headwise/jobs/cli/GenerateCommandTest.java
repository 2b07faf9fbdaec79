package io.headwise.jobs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.headwise.graph.TestModels;
import io.headwise.jobs.cli.CliRunner.Result;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code headwise generate} on stories260k with its KV cache: tokens, cache bytes per step, and bad
 * input.
 */
class GenerateCommandTest {
  static String pastModel() {
    return TestModels.stories260k().resolveSibling("stories260k_past.onnx").toString();
  }

  @Test
  void greedyGenerationPrintsTokensAndGrowingCacheBytes(@TempDir Path dir) throws Exception {
    Path prompt = Files.writeString(dir.resolve("prompt.json"), "[1, 365, 147, 263]");
    Result r =
        CliRunner.run(
            "generate",
            "--model",
            pastModel(),
            "--prompt-ids",
            prompt.toString(),
            "--max-new-tokens",
            "6",
            "--greedy");
    assertEquals(0, r.exitCode(), r.err());
    List<String> steps = r.out().lines().filter(l -> l.matches("\\d+\\t\\d+\\t\\d+")).toList();
    assertEquals(6, steps.size(), r.out());
    // Dense cache: 5 layers x (K + V) x 4 kv heads x 8 dims x 4 bytes = 1280 bytes per token.
    for (int i = 0; i < steps.size(); i++) {
      String[] f = steps.get(i).split("\t");
      assertEquals(4 + i, Integer.parseInt(f[0]));
      assertEquals(1280L * (4 + i + 1), Long.parseLong(f[2]), steps.get(i));
    }
    assertTrue(r.out().contains("tokens: "), r.out());
    Result again =
        CliRunner.run(
            "generate",
            "--model",
            pastModel(),
            "--prompt-ids",
            prompt.toString(),
            "--max-new-tokens",
            "6");
    assertEquals(
        r.out().lines().filter(l -> l.startsWith("tokens:")).toList(),
        again.out().lines().filter(l -> l.startsWith("tokens:")).toList(),
        "greedy is the default and deterministic");
    Result sampled =
        CliRunner.run(
            "generate",
            "--model",
            pastModel(),
            "--prompt-ids",
            prompt.toString(),
            "--max-new-tokens",
            "6",
            "--temperature",
            "0.8",
            "--seed",
            "3");
    assertEquals(0, sampled.exitCode(), sampled.err());
  }

  @Test
  void badInputIsOneLineAndExitTwo(@TempDir Path dir) throws Exception {
    Path outside = Files.writeString(dir.resolve("bad.txt"), "1 2 99999");
    Result r =
        CliRunner.run(
            "generate",
            "--model",
            pastModel(),
            "--prompt-ids",
            outside.toString(),
            "--max-new-tokens",
            "2");
    assertEquals(2, r.exitCode(), r.err());
    assertTrue(
        r.err().startsWith("headwise: error: ") && r.err().contains("outside the vocabulary"),
        r.err());
    assertEquals(1, r.err().strip().lines().count(), r.err());
    Path ok = Files.writeString(dir.resolve("ok.txt"), "1 2 3");
    Result noCache =
        CliRunner.run(
            "generate",
            "--model",
            TestModels.stories260k().toString(),
            "--prompt-ids",
            ok.toString(),
            "--max-new-tokens",
            "2");
    assertEquals(2, noCache.exitCode(), noCache.err());
    assertTrue(
        noCache.err().contains("past key/value") && noCache.err().contains("export --decode"),
        noCache.err());
    Path notIds = Files.writeString(dir.resolve("text.txt"), "once upon a time");
    Result text =
        CliRunner.run(
            "generate",
            "--model",
            pastModel(),
            "--prompt-ids",
            notIds.toString(),
            "--max-new-tokens",
            "2");
    assertEquals(2, text.exitCode(), text.err());
    Result temperature =
        CliRunner.run(
            "generate",
            "--model",
            pastModel(),
            "--prompt-ids",
            ok.toString(),
            "--max-new-tokens",
            "2",
            "--temperature",
            "0");
    assertEquals(2, temperature.exitCode(), temperature.err());
  }

  /**
   * A prompt (or prompt plus new tokens) beyond the model's positions: stories260k was trained for
   * 512 (its README; RoPE is computed from position_ids, so the graph has no table), named by a
   * config.json next to the model as Optimum writes one, or by --max-positions.
   */
  @Test
  void beyondTheModelsPositionsIsOneLineAndExitTwo(@TempDir Path dir) throws Exception {
    Path model = Files.createSymbolicLink(dir.resolve("model.onnx"), Path.of(pastModel()));
    Files.writeString(dir.resolve("config.json"), "{\"max_position_embeddings\": 512}");
    Path longPrompt = Files.writeString(dir.resolve("long.txt"), "1 ".repeat(600));
    Result r =
        CliRunner.run(
            "generate",
            "--model",
            model.toString(),
            "--prompt-ids",
            longPrompt.toString(),
            "--max-new-tokens",
            "1");
    assertEquals(2, r.exitCode(), r.err());
    assertEquals(1, r.err().strip().lines().count(), r.err());
    assertTrue(
        r.err().startsWith("headwise: error: prompt ids ")
            && r.err().contains("hold 600 tokens, more than the 512 positions")
            && r.err().contains("max_position_embeddings"),
        r.err());
    assertEquals("", r.out(), "nothing generated");

    Path prompt = Files.writeString(dir.resolve("p.txt"), "1 ".repeat(500));
    r =
        CliRunner.run(
            "generate",
            "--model",
            model.toString(),
            "--prompt-ids",
            prompt.toString(),
            "--max-new-tokens",
            "20");
    assertEquals(2, r.exitCode(), r.err());
    assertTrue(
        r.err()
            .contains("prompt (500 tokens) plus 20 new tokens is 520 positions, more than the 512"),
        r.err());
    assertEquals("", r.out());

    // --max-positions when nothing next to the model says
    Path shortPrompt = Files.writeString(dir.resolve("s.txt"), "1 2 3");
    r =
        CliRunner.run(
            "generate",
            "--model",
            pastModel(),
            "--prompt-ids",
            shortPrompt.toString(),
            "--max-new-tokens",
            "20",
            "--max-positions",
            "16");
    assertEquals(2, r.exitCode(), r.err());
    assertTrue(
        r.err().contains("more than the 16 positions") && r.err().contains("--max-positions"));
    // within the positions: generates
    r =
        CliRunner.run(
            "generate",
            "--model",
            model.toString(),
            "--prompt-ids",
            shortPrompt.toString(),
            "--max-new-tokens",
            "4");
    assertEquals(0, r.exitCode(), r.err());
    assertEquals(4, r.out().lines().filter(l -> l.matches("\\d+\t\\d+\t\\d+")).count(), r.out());
  }
}
