package io.headwise.jobs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.headwise.graph.TestModels;
import io.headwise.jobs.cli.CliRunner.Result;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code calibrate --lengths}: probes of each kind at every length, ids told apart, bad
 * combinations refused; without it, a spread up to the context the model states.
 */
class CalibrateLengthsTest {
  @TempDir Path tmp;

  @Test
  void probesAtEveryRequestedLength() throws Exception {
    Path out = tmp.resolve("probes.jsonl");
    Result r =
        CliRunner.run(
            "calibrate",
            "--model",
            TestModels.stories260k().toString(),
            "--probes",
            "repeat,passkey",
            "--lengths",
            "128,64",
            "--count",
            "2",
            "--seed",
            "3",
            "--out",
            out.toString());
    assertEquals(0, r.exitCode(), r.err());
    Map<String, Integer> lengthById = new TreeMap<>();
    ObjectMapper json = new ObjectMapper();
    for (String line : Files.readAllLines(out)) {
      JsonNode o = json.readTree(line);
      lengthById.put(o.get("sample_id").asText(), o.get("input_ids").size());
    }
    assertEquals(8, lengthById.size(), lengthById.toString());
    // a repeat probe is the lead token plus R whole periods, so it may be up to R - 1 tokens short
    // of its length
    lengthById.forEach(
        (id, n) -> {
          int target = id.startsWith("len64-") ? 64 : 128;
          assertTrue(n <= target && n > target - 4, id + " has " + n + " tokens");
        });
    assertTrue(
        lengthById.keySet().stream()
            .allMatch(id -> id.startsWith("len64-") || id.startsWith("len128-")));

    Path both = tmp.resolve("both.jsonl");
    r =
        CliRunner.run(
            "calibrate",
            "--model",
            TestModels.stories260k().toString(),
            "--probes",
            "repeat",
            "--lengths",
            "64",
            "--probe-length",
            "64",
            "--seed",
            "3",
            "--out",
            both.toString());
    assertEquals(2, r.exitCode(), r.err());
    assertTrue(r.err().contains("--lengths or --probe-length"), r.err());
    assertFalse(Files.exists(both));
  }

  @Test
  void byDefaultProbesSpreadUpToTheContextAConfigJsonStates() throws Exception {
    // stories260k is rotary: its graph has no position table, so only a config.json beside the
    // file (as Optimum lays exports out) states its 512 positions
    Path stated = Files.createDirectories(tmp.resolve("stated"));
    Files.createSymbolicLink(stated.resolve("stories260k.onnx"), TestModels.stories260k());
    Files.writeString(stated.resolve("config.json"), "{\"max_position_embeddings\": 512}\n");
    assertEquals(
        Map.of("len128-", 128, "len256-", 256, "len512-", 512),
        probeLengths(stated.resolve("stories260k.onnx")));
    // nothing states the context: one length, 256, with the historical ids (no length prefix)
    assertEquals(Map.of("", 256), probeLengths(TestModels.stories260k()));
  }

  /** Prefix of each probe id written by a default-length calibrate → the longest probe's length. */
  private Map<String, Integer> probeLengths(Path model) throws Exception {
    Path out = tmp.resolve("default-" + Math.abs(model.hashCode()) + ".jsonl");
    Result r =
        CliRunner.run(
            "calibrate",
            "--model",
            model.toString(),
            "--probes",
            "passkey",
            "--count",
            "1",
            "--out",
            out.toString());
    assertEquals(0, r.exitCode(), r.err());
    Map<String, Integer> out2 = new TreeMap<>();
    ObjectMapper json = new ObjectMapper();
    for (String line : Files.readAllLines(out)) {
      JsonNode o = json.readTree(line);
      String id = o.get("sample_id").asText();
      String prefix = id.startsWith("len") ? id.substring(0, id.indexOf('-') + 1) : "";
      out2.merge(prefix, o.get("input_ids").size(), Math::max);
    }
    return out2;
  }
}
