package io.headwise.report;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import io.headwise.schemas.Json;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Reads the JSON objects stored in the tables ({@code params}, {@code config}, {@code versions}) as
 * flat ordered maps ({@code solver.status}), and splits a plan's per-row params into the plan-level
 * part (same value in every row) and the per-head part (scores, ranks).
 */
final class ParamsJson {

  /**
   * A plan's params: values shared by every row, and the keys whose values differ between heads.
   */
  record Split(
      Map<String, JsonNode> planLevel,
      List<String> perHeadKeys,
      List<Map<String, JsonNode>> rows) {}

  private ParamsJson() {}

  /** The flattened object; text that is not a JSON object becomes {@code {"value": text}}. */
  static Map<String, JsonNode> flat(String json) {
    Map<String, JsonNode> out = new LinkedHashMap<>();
    if (json == null || json.isBlank()) {
      return out;
    }
    JsonNode root;
    try {
      root = Json.MAPPER.readTree(json);
    } catch (JsonProcessingException e) {
      out.put("value", Json.MAPPER.getNodeFactory().textNode(json));
      return out;
    }
    if (root == null || !root.isObject()) {
      out.put("value", root == null ? Json.MAPPER.getNodeFactory().textNode(json) : root);
      return out;
    }
    flatten("", root, out);
    return out;
  }

  private static void flatten(String prefix, JsonNode node, Map<String, JsonNode> out) {
    Iterator<Map.Entry<String, JsonNode>> it = node.fields();
    while (it.hasNext()) {
      Map.Entry<String, JsonNode> e = it.next();
      String key = prefix.isEmpty() ? e.getKey() : prefix + "." + e.getKey();
      if (e.getValue().isObject() && e.getValue().size() > 0) {
        flatten(key, e.getValue(), out);
      } else {
        out.put(key, e.getValue());
      }
    }
  }

  /** Splits the params of a plan's rows (in row order). */
  static Split split(List<String> rowParams) {
    List<Map<String, JsonNode>> rows = new ArrayList<>();
    Set<String> keys = new LinkedHashSet<>();
    for (String p : rowParams) {
      Map<String, JsonNode> m = flat(p);
      rows.add(m);
      keys.addAll(m.keySet());
    }
    Map<String, JsonNode> plan = new LinkedHashMap<>();
    List<String> perHead = new ArrayList<>();
    for (String k : keys) {
      JsonNode first = rows.get(0).get(k);
      boolean same = true;
      for (Map<String, JsonNode> r : rows) {
        JsonNode v = r.get(k);
        if (v == null || !v.equals(first)) {
          same = false;
          break;
        }
      }
      if (same) {
        plan.put(k, first);
      } else {
        perHead.add(k);
      }
    }
    return new Split(plan, perHead, rows);
  }

  /**
   * A value as display text: strings unquoted, numbers to 4 significant digits, arrays/objects as
   * compact Json.MAPPER.
   */
  static String text(JsonNode v) {
    if (v == null || v.isNull() || v.isMissingNode()) {
      return Numbers.MISSING;
    }
    if (v.isTextual()) {
      return v.asText();
    }
    if (v.isIntegralNumber()) {
      return v.asText();
    }
    if (v.isNumber()) {
      return Numbers.format(v.doubleValue(), 4);
    }
    if (v.isBoolean()) {
      return v.asBoolean() ? "yes" : "no";
    }
    if (v.isArray()) {
      List<String> parts = new ArrayList<>();
      for (JsonNode x : v) {
        parts.add(x.isValueNode() ? text(x) : x.toString());
      }
      return "[" + String.join(", ", parts) + "]";
    }
    return v.toString();
  }

  /** True for a short scalar worth showing among a plan's highlights. */
  static boolean isShortScalar(JsonNode v) {
    return v != null
        && (v.isNumber()
            || v.isBoolean()
            || (v.isTextual() && v.asText().length() <= 40)
            || (v.isArray() && v.size() <= 6 && v.toString().length() <= 48));
  }
}
