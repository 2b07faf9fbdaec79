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
 * combinations refused.
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
}
