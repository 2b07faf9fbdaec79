package io.headwise.jobs;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.headwise.profilers.IdArrays;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Writes calibration files for tests. */
public final class TestFiles {
  private TestFiles() {}

  /** A JSONL calibration file with one line per sequence of a JSON ids file. */
  public static Path jsonlFromIds(Path idsJson, Path out, String prefix) throws IOException {
    int[][] ids = IdArrays.read(idsJson, "ids");
    ObjectMapper json = new ObjectMapper();
    List<String> lines = new ArrayList<>();
    for (int i = 0; i < ids.length; i++) {
      ObjectNode o = json.createObjectNode();
      o.put("sample_id", prefix + i);
      ArrayNode a = o.putArray("input_ids");
      for (int v : ids[i]) {
        a.add(v);
      }
      o.put("source", "ids");
      lines.add(o.toString());
    }
    Files.write(out, lines);
    return out;
  }
}
