package io.headwise.planners;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.Map;

/** JSON encoding of plan parameters (insertion-ordered maps, compact output). */
final class Json {
  private static final ObjectMapper MAPPER = new ObjectMapper();

  private Json() {}

  static String write(Object value) {
    try {
      return MAPPER.writeValueAsString(value);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("cannot encode plan parameters " + value, e);
    }
  }

  @SuppressWarnings("unchecked")
  static Map<String, Object> readMap(String json) {
    try {
      return MAPPER.readValue(json, Map.class);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("cannot decode plan parameters " + json, e);
    }
  }
}
