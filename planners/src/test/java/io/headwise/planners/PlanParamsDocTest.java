package io.headwise.planners;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.headwise.schemas.Json;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * docs/plan-params.md lists every params key each planner writes, at its level (plan or row) and
 * with the code that reads it. This test runs every planner in the variants that write its
 * conditional keys and fails when a planner writes a key the page does not list for it (at that
 * level), or when the page lists a key no variant writes: the page and the planners cannot drift
 * apart.
 */
class PlanParamsDocTest {
  static final Path DOC = Path.of("..", "docs", "plan-params.md");
  static final String COMMON = "Every method";

  /** A documented key: its level ({@code plan} or {@code row}) and its "read by" cell. */
  record DocKey(String level, String readBy) {}

  /** Documented keys by section: the method id, or {@link #COMMON}. */
  static Map<String, Map<String, DocKey>> documented() throws IOException {
    Map<String, Map<String, DocKey>> out = new LinkedHashMap<>();
    Pattern section = Pattern.compile("^## (?:`([a-z0-9]+)`.*|(" + COMMON + "))$");
    Pattern keys = Pattern.compile("`([a-z0-9_]+)`");
    String current = null;
    for (String line : Files.readAllLines(DOC)) {
      Matcher m = section.matcher(line);
      if (m.matches()) {
        current = m.group(1) != null ? m.group(1) : m.group(2);
        out.put(current, new LinkedHashMap<>());
        continue;
      }
      if (current == null || !line.startsWith("| `")) {
        continue;
      }
      String[] cells = line.split("\\|", -1);
      // "", key cell, level, read by, meaning, ""
      Matcher k = keys.matcher(cells[1]);
      while (k.find()) {
        out.get(current).put(k.group(1), new DocKey(cells[2].trim(), cells[3].trim()));
      }
    }
    return out;
  }

  private static HeadStatsTable stats() {
    return new TestStats("m", 4, 8, 4).retrieval(1, 2).retrieval(3, 5).table(256, 1024, 4096);
  }

  /** Requests that, together, make each planner write every key it can write. */
  private static List<PlanRequest> variants(String method) {
    HeadStatsTable stats = stats();
    List<PlanRequest> out = new ArrayList<>();
    List<Map<String, String>> options =
        switch (method) {
          case "streamingllm" ->
              List.of(
                  Map.of(), Map.of("window_mode", "proportional"), Map.of("window_mode", "fixed"));
          case "moa" ->
              List.of(Map.of("pareto_bins", "0", "time_limit_seconds", "10", "workers", "1"));
          case "razor" ->
              List.of(
                  Map.of(),
                  Map.of("window_mode", "fixed"),
                  Map.of("compensation", "none", "induction_share", "0.5"),
                  Map.of("selection", "paper"));
          case "duo" -> List.of(Map.of(), Map.of("sizing", "deployment"));
          default -> List.of(Map.of());
        };
    for (Map<String, String> o : options) {
      // one length inside the profiled buckets and a pair far apart, one beyond every bucket
      // (bucket warnings), two fractions (0.25 makes duo shrink its sizes; dense notes F < 1)
      for (double f : new double[] {0.25, 0.5}) {
        for (List<Integer> lengths : List.of(List.of(1024), List.of(1024, 8192))) {
          out.add(new PlanRequest("p", stats, f, lengths, o));
        }
      }
    }
    if (method.equals("razor")) {
      // no head stands out: Razor falls back to the uniform rule
      out.add(
          new PlanRequest(
              "p", new TestStats("m", 4, 8, 4).table(256, 1024), 0.1, List.of(1024), Map.of()));
    }
    return out;
  }

  @Test
  void everyKeyAPlannerWritesIsDocumentedAtItsLevelAndEveryDocumentedKeyIsWritten()
      throws IOException {
    Map<String, Map<String, DocKey>> doc = documented();
    assertEquals(
        new TreeSet<>(KvPlanners.methods()),
        new TreeSet<>(doc.keySet().stream().filter(s -> !s.equals(COMMON)).toList()),
        "one section per method in " + DOC);
    Map<String, DocKey> common = doc.get(COMMON);
    Set<String> commonSeen = new TreeSet<>();
    Set<String> problems = new LinkedHashSet<>();
    for (String method : KvPlanners.methods()) {
      Map<String, DocKey> mine = new TreeMap<>(doc.get(method));
      Set<String> seen = new TreeSet<>();
      for (PlanRequest request : variants(method)) {
        Plan plan = KvPlanners.plan(method, request);
        Map<String, Object> planParams = Json.readMap(plan.paramsJson());
        for (String key : planParams.keySet()) {
          check(method, key, "plan", mine, common, problems);
          seen.add(key);
        }
        for (var row : plan.rows()) {
          for (String key : Json.readMap(row.paramsJson()).keySet()) {
            if (!planParams.containsKey(key)) {
              check(method, key, "row", mine, common, problems);
              seen.add(key);
            }
          }
        }
      }
      for (String key : mine.keySet()) {
        if (!seen.contains(key)) {
          problems.add(method + ": documented key '" + key + "' is never written");
        }
      }
      seen.stream().filter(common::containsKey).forEach(commonSeen::add);
    }
    for (String key : common.keySet()) {
      if (!commonSeen.contains(key)) {
        problems.add("common key '" + key + "' is never written by any planner");
      }
    }
    assertTrue(problems.isEmpty(), String.join("\n", problems));
  }

  private static void check(
      String method,
      String key,
      String level,
      Map<String, DocKey> mine,
      Map<String, DocKey> common,
      Set<String> problems) {
    DocKey d = mine.containsKey(key) ? mine.get(key) : common.get(key);
    if (d == null) {
      problems.add(method + ": writes " + level + " key '" + key + "', not in " + DOC);
    } else if (!d.level().equals(level)) {
      problems.add(
          method + ": key '" + key + "' is written per " + level + ", documented per " + d.level());
    }
  }

  /** The keys the planners' own code reads back are documented as read (not informational). */
  @Test
  void keysThePlannersCodeReadsAreDocumentedAsRead() throws IOException {
    Map<String, Map<String, DocKey>> doc = documented();
    assertTrue(doc.get("razor").get("compensation_tokens").readBy().contains("kv-fraction"));
    assertTrue(doc.get("ems").get("experimental").readBy().contains("plan-cli"));
    assertTrue(doc.get("ems").get("merge_tokens").readBy().contains("kv-fraction"));
    assertTrue(doc.get("moa").get("warnings").readBy().contains("plan-cli"));
    assertTrue(doc.get("duo").get("warnings").readBy().contains("plan-cli"));
  }
}
