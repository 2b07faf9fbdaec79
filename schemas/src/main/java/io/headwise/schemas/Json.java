package io.headwise.schemas;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectWriter;
import java.nio.charset.StandardCharsets;
import java.util.Map;

/**
 * The project's one JSON helper: one shared, default-configured Jackson mapper (thread-safe once
 * built; mappers are costly to create), compact output for values stored in tables (plan {@code
 * params}, run configs, gate JSON) and indented output for files people read (engine formats,
 * {@code --json} reports).
 */
public final class Json {
  /** The shared mapper; never reconfigure it (every module reads and writes through it). */
  public static final ObjectMapper MAPPER = new ObjectMapper();

  private static final ObjectWriter PRETTY = MAPPER.writerWithDefaultPrettyPrinter();

  private Json() {}

  /** Compact JSON of {@code value} (maps keep their insertion order). */
  public static String write(Object value) {
    try {
      return MAPPER.writeValueAsString(value);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("cannot encode " + value + " as JSON", e);
    }
  }

  /** Indented JSON of {@code value}, for files and terminals. */
  public static String pretty(Object value) {
    try {
      return PRETTY.writeValueAsString(value);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("cannot encode " + value + " as JSON", e);
    }
  }

  /** {@link #pretty} with a final newline, as UTF-8 bytes: a JSON file's content. */
  public static byte[] fileBytes(Object value) {
    return (pretty(value) + "\n").getBytes(StandardCharsets.UTF_8);
  }

  /**
   * A JSON object read into a map; malformed JSON is a bug here (the text was written by headwise).
   */
  @SuppressWarnings("unchecked")
  public static Map<String, Object> readMap(String json) {
    try {
      return MAPPER.readValue(json, Map.class);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("cannot decode JSON " + json, e);
    }
  }
}
