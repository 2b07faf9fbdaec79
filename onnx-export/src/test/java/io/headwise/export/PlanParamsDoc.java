package io.headwise.export;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Reads docs/plan-params.md, the page that lists every params key each planner writes and what
 * reads it (the planners' PlanParamsDocTest checks the page against the planners).
 */
public final class PlanParamsDoc {
  public static final Path DOC = Path.of("..", "docs", "plan-params.md");

  private PlanParamsDoc() {}

  /** The "read by" cell of {@code key} in the section of {@code method}, or null when absent. */
  public static String readBy(String method, String key) throws IOException {
    List<String> lines = Files.readAllLines(DOC);
    boolean inSection = false;
    for (String line : lines) {
      if (line.startsWith("## ")) {
        inSection = line.startsWith("## `" + method + "`");
        continue;
      }
      if (inSection && line.startsWith("| ")) {
        String[] cells = line.split("\\|", -1);
        if (cells.length > 3 && cells[1].contains("`" + key + "`")) {
          return cells[3].trim();
        }
      }
    }
    return null;
  }
}
