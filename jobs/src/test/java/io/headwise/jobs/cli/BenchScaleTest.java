package io.headwise.jobs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code bench scale} on a tiny synthetic model: every route runs in its own child JVM and reports
 * time and memory; a quadratic route over the limit is skipped with its reason; bad options are
 * one-line errors.
 */
class BenchScaleTest {
  @TempDir Path tmp;

  @Test
  void everyRouteReportsTimeAndMemoryAndQuadraticRoutesOverTheLimitAreSkipped() throws Exception {
    Path model = tmp.resolve("tiny.onnx");
    assertEquals(
        0,
        CliRunner.run(
                "synth",
                "--shape",
                "tiny",
                "--layers",
                "1",
                "--vocab",
                "64",
                "--out",
                model.toString())
            .exitCode());
    Path json = tmp.resolve("scale.json");
    // the limit is computed for Llama-3-8B's 32 heads: 32 · 256² · 4 B · 3 = 24 MiB for plain; 0.03
    // GiB keeps it
    // and skips untiled (48 MiB)
    CliRunner.Result r =
        CliRunner.run(
            "bench",
            "scale",
            "--model",
            model.toString(),
            "--lengths",
            "256",
            "--query-block",
            "64",
            "--quadratic-limit-gib",
            "0.03",
            "--json",
            json.toString());
    assertEquals(0, r.exitCode(), r.err() + r.out());
    JsonNode root = new ObjectMapper().readTree(json.toFile());
    Set<String> routes = new HashSet<>();
    for (JsonNode row : root.get("results")) {
      routes.add(row.get("route").asText());
      assertEquals(256, row.get("length").asInt());
      assertTrue(row.get("seconds").asDouble() > 0);
      assertTrue(row.get("peak_rss_kib").asLong() >= row.get("loaded_rss_kib").asLong());
      assertTrue(row.get("loaded_rss_kib").asLong() > 10_000, "a JVM with ONNX Runtime loaded");
    }
    assertEquals(Set.of("plain", "tiled-min", "tiled"), routes);
    assertEquals("untiled", root.get("skipped").get(0).get("route").asText());
    assertTrue(r.out().contains("(c)/(a) time") && r.out().contains("(c)/(b) time"), r.out());
  }

  @Test
  void badOptionsAreOneLineErrors() {
    for (String[] args :
        new String[][] {{"--query-block", "0"}, {"--routes", "fast"}, {"--lengths", "10"}}) {
      String[] all = new String[args.length + 4];
      all[0] = "bench";
      all[1] = "scale";
      all[2] = "--model";
      all[3] = tmp.resolve("none.onnx").toString();
      System.arraycopy(args, 0, all, 4, args.length);
      CliRunner.Result r = CliRunner.run(all);
      assertEquals(2, r.exitCode(), r.err());
      assertTrue(r.err().startsWith("headwise: error: "), r.err());
      assertEquals(1, r.err().strip().lines().count(), r.err());
    }
  }
}
