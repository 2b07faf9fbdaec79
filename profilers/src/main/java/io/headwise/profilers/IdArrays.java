package io.headwise.profilers;

import com.fasterxml.jackson.databind.JsonNode;
import io.headwise.schemas.HeadwiseException;
import io.headwise.schemas.Json;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Reads JSON files holding an array of arrays of ints (token ids or attention masks). */
public final class IdArrays {

  private IdArrays() {}

  /** Reads {@code file}; {@code what} names the option in errors (e.g. {@code --input-ids}). */
  public static int[][] read(Path file, String what) {
    if (!Files.isRegularFile(file)) {
      throw new HeadwiseException(what + " file not found: " + file);
    }
    JsonNode root;
    try {
      root = Json.MAPPER.readTree(file.toFile());
    } catch (IOException e) {
      throw new HeadwiseException(
          what + " file " + file + " is not valid JSON: " + firstLine(e.getMessage()), e);
    }
    if (root == null || !root.isArray()) {
      throw new HeadwiseException(
          what + " file " + file + " must hold a JSON array of arrays of ints");
    }
    if (root.isEmpty()) {
      throw new HeadwiseException(what + " file " + file + " is empty: give at least one sequence");
    }
    int[][] out = new int[root.size()][];
    for (int i = 0; i < root.size(); i++) {
      JsonNode row = root.get(i);
      if (!row.isArray()) {
        throw new HeadwiseException(
            what + " file " + file + ": entry " + i + " is not an array of ints");
      }
      if (row.isEmpty()) {
        throw new HeadwiseException(what + " file " + file + ": sequence " + i + " is empty");
      }
      out[i] = new int[row.size()];
      for (int j = 0; j < row.size(); j++) {
        JsonNode v = row.get(j);
        if (!v.isIntegralNumber() || !v.canConvertToInt()) {
          throw new HeadwiseException(
              what
                  + " file "
                  + file
                  + ": sequence "
                  + i
                  + " position "
                  + j
                  + " is not an int ("
                  + v
                  + ")");
        }
        out[i][j] = v.intValue();
      }
    }
    return out;
  }

  private static String firstLine(String s) {
    int nl = s == null ? -1 : s.indexOf('\n');
    return s == null ? "" : nl < 0 ? s : s.substring(0, nl);
  }
}
