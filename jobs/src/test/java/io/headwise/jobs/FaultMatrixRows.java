package io.headwise.jobs;

import io.headwise.graph.TestModels;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The observed behaviour of one fault-matrix row, printed as one line {@code fault-matrix | case |
 * command | exit | stderr | warehouse afterwards |}: docs/fault-matrix.md is these lines of a test
 * run with the prefix cut ({@code tools/fault-matrix-doc.sh}). Paths in the command are shortened
 * to placeholders ({@code $T} the test's temporary folder, {@code $STORIES} and {@code $RETRIEVAL}
 * the shared models).
 */
final class FaultMatrixRows {
  private FaultMatrixRows() {}

  /** Path prefixes and the placeholder each is printed as, longest first. */
  static Map<String, String> placeholders(java.nio.file.Path tmp) {
    Map<String, String> p = new LinkedHashMap<>();
    for (java.nio.file.Path m : List.of(TestModels.stories260k(), TestModels.retrievalLm())) {
      String name = m.equals(TestModels.stories260k()) ? "$STORIES" : "$RETRIEVAL";
      p.put(m.toAbsolutePath().normalize().toString(), name);
      p.put(m.toString(), name);
    }
    p.put(tmp.toAbsolutePath().normalize().toString(), "$T");
    p.put(tmp.toString(), "$T");
    return p;
  }

  static void print(
      String name,
      List<String> args,
      Map<String, String> placeholders,
      int exit,
      String stderr,
      String warehouse) {
    List<String> shown = new ArrayList<>();
    for (String a : args) {
      String s = a;
      for (Map.Entry<String, String> e : placeholders.entrySet()) {
        s = s.replace(e.getKey(), e.getValue());
      }
      shown.add(s.isEmpty() ? "\"\"" : s.contains(" ") ? "'" + s + "'" : s);
    }
    String err = stderr;
    for (Map.Entry<String, String> e : placeholders.entrySet()) {
      err = err.replace(e.getKey(), e.getValue());
    }
    System.out.println(
        "fault-matrix | "
            + cell(name)
            + " | `headwise "
            + cell(String.join(" ", shown))
            + "` | "
            + exit
            + " | "
            + cell(err)
            + " | "
            + cell(warehouse)
            + " |");
  }

  /** Markdown table cell text: one line, pipes escaped. */
  private static String cell(String s) {
    return s.strip().replace("\n", " ⏎ ").replace("|", "\\|");
  }
}
