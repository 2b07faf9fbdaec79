package io.headwise.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.headwise.graph.TestModels;
import io.headwise.jobs.cli.ChildProfile;
import io.headwise.profilers.IdArrays;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.spark.sql.Row;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * `headwise profile` with {@code --master local[1]} and {@code --master local[2]} (each in its own
 * JVM, as a user would run them) writes the same head_stats.
 */
class ProfileParallelismTest extends SparkTestBase {
  @TempDir static Path tmp;

  @Test
  void localOneAndLocalTwoAgree() throws Exception {
    Path calib = tmp.resolve("calib.jsonl");
    List<String> lines = new ArrayList<>();
    int[][] ids = IdArrays.read(TestModels.stories260kCalibration(), "ids");
    for (int i = 0; i < 6; i++) {
      StringBuilder s = new StringBuilder("{\"sample_id\":\"s" + i + "\",\"input_ids\":[");
      for (int j = 0; j < 96 + 16 * i; j++) {
        s.append(j == 0 ? "" : ",").append(ids[i][j]);
      }
      lines.add(s.append("]}").toString());
    }
    Files.write(calib, lines);
    Map<String, Double> one = run(calib, 1);
    Map<String, Double> two = run(calib, 2);
    assertEquals(one.keySet(), two.keySet());
    assertTrue(one.size() > 100);
    for (Map.Entry<String, Double> e : one.entrySet()) {
      assertEquals(e.getValue(), two.get(e.getKey()), 1e-9, e.getKey());
    }
  }

  private Map<String, Double> run(Path calib, int cores) throws Exception {
    Path wh = tmp.resolve("wh" + cores);
    List<String> cmd =
        ChildProfile.command(TestModels.stories260k(), calib, wh, "par", cores, "3g");
    Process p =
        new ProcessBuilder(cmd)
            .redirectErrorStream(true)
            .redirectOutput(tmp.resolve("log" + cores).toFile())
            .start();
    assertTrue(p.waitFor(10, TimeUnit.MINUTES), "profile with local[" + cores + "] timed out");
    assertEquals(0, p.exitValue(), Files.readString(tmp.resolve("log" + cores)));
    Map<String, Double> out = new HashMap<>();
    for (Row r :
        spark.read().format("delta").load(wh.resolve("head_stats").toString()).collectAsList()) {
      out.put(
          r.getInt(r.fieldIndex("length_bucket"))
              + "/"
              + r.getInt(r.fieldIndex("layer"))
              + "/"
              + r.getInt(r.fieldIndex("head"))
              + "/"
              + r.getString(r.fieldIndex("stat")),
          r.getDouble(r.fieldIndex("value")));
    }
    return out;
  }
}
