package io.headwise.profilers.bench;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Runs a benchmark's child JVM: this JVM's java and classpath, {@code main} with {@code args}, and
 * reads the one line the child prints as {@code RESULT f1 f2 ...}. A child per measurement keeps
 * one route's heap and native allocations out of the next one's numbers.
 */
final class ChildJvm {
  private ChildJvm() {}

  /**
   * The fields after {@code RESULT} of the child's result line; the child's other output is kept
   * only for the error when it exits non-zero or prints no result.
   *
   * @param what the measurement, for the error message (e.g. {@code route tiled at T = 4096})
   */
  static List<String> run(String heap, Class<?> main, List<String> args, String what)
      throws IOException, InterruptedException {
    List<String> cmd =
        new ArrayList<>(
            List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                heap,
                "-cp",
                System.getProperty("java.class.path"),
                main.getName()));
    cmd.addAll(args);
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String result = null;
    StringBuilder log = new StringBuilder();
    try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream()))) {
      String line;
      while ((line = r.readLine()) != null) {
        if (line.startsWith("RESULT ")) {
          result = line;
        } else {
          log.append(line).append('\n');
        }
      }
    }
    if (p.waitFor() != 0 || result == null) {
      throw new IllegalStateException(
          "benchmark child for " + what + " failed (exit " + p.exitValue() + "):\n" + log);
    }
    List<String> fields = Arrays.asList(result.split(" "));
    return fields.subList(1, fields.size());
  }
}
