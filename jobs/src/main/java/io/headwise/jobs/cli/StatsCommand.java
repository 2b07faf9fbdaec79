package io.headwise.jobs.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.headwise.graph.AttentionLocator;
import io.headwise.graph.AttentionMap;
import io.headwise.graph.ModelInputs;
import io.headwise.graph.ModelLimits;
import io.headwise.graph.OnnxModel;
import io.headwise.graph.StatedPositions;
import io.headwise.profilers.CalibrationSample;
import io.headwise.profilers.IdArrays;
import io.headwise.profilers.SampleChecks;
import io.headwise.profilers.SampleProfiler;
import io.headwise.profilers.SessionCache;
import io.headwise.profilers.StatsAccumulator;
import io.headwise.profilers.StatsConfig;
import io.headwise.schemas.HeadStat;
import io.headwise.schemas.HeadwiseException;
import io.headwise.schemas.Json;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code headwise stats}: per-head attention statistics of token-id sequences, in one process
 * without Spark.
 */
@Command(
    name = "stats",
    mixinStandardHelpOptions = true,
    description =
        "Compute per-head attention statistics inside the ONNX graph for the given token ids (one"
            + " process, no Spark). All sequences are right-padded to the longest one and aggregated together.")
public final class StatsCommand implements Callable<Integer> {
  @Mixin ConfigOption config;

  @Mixin ModelOption model;

  @Option(
      names = OptionNames.INPUT_IDS,
      paramLabel = "FILE.json",
      required = true,
      description = "JSON array of arrays of token ids.")
  Path inputIds;

  @Option(
      names = OptionNames.ATTENTION_MASK,
      paramLabel = "FILE.json",
      description = "JSON array of arrays of 0/1, same shape as the ids (default: all valid).")
  Path attentionMask;

  @Mixin StatsOptions stats;

  @Option(
      names = OptionNames.TRUNCATE,
      description = "Cut sequences longer than the model accepts instead of failing.")
  boolean truncate;

  @Option(names = OptionNames.JSON, description = "Print one JSON object instead of a table.")
  boolean json;

  @Override
  public Integer call() throws Exception {
    OnnxModel m = model.load();
    int[][] ids = IdArrays.read(inputIds, OptionNames.INPUT_IDS);
    int[][] mask =
        attentionMask == null ? null : IdArrays.read(attentionMask, OptionNames.ATTENTION_MASK);
    if (mask != null) {
      if (mask.length != ids.length) {
        throw new HeadwiseException(
            OptionNames.ATTENTION_MASK
                + " has "
                + mask.length
                + " sequences but "
                + OptionNames.INPUT_IDS
                + " has "
                + ids.length
                + "; they must have the same shape");
      }
      for (int i = 0; i < ids.length; i++) {
        if (mask[i].length != ids[i].length) {
          throw new HeadwiseException(
              OptionNames.ATTENTION_MASK
                  + " sequence "
                  + i
                  + " has "
                  + mask[i].length
                  + " entries but its ids have "
                  + ids[i].length
                  + "; they must have the same shape");
        }
      }
    }
    List<CalibrationSample> samples = new ArrayList<>();
    for (int i = 0; i < ids.length; i++) {
      samples.add(
          CalibrationSample.of(
              "seq" + i, ids[i], mask == null ? null : mask[i], CalibrationSample.SOURCE_IDS));
    }
    AttentionMap map = AttentionLocator.locate(m).requireAttention(m.source());
    samples =
        SampleChecks.validate(
            samples, ModelLimits.of(m.graph(), ModelInputs.of(m.graph())), truncate);
    int length = samples.stream().mapToInt(CalibrationSample::length).max().orElseThrow();
    List<CalibrationSample> checked = samples;
    StatedPositions.of(m)
        .flatMap(
            p ->
                p.warning(
                    m.source(),
                    checked.stream().mapToLong(CalibrationSample::validLength).max().orElse(0),
                    checked.stream().filter(c -> c.validLength() > p.positions()).count()))
        .ifPresent(System.err::println);
    StatsConfig cfg = stats.toConfig();
    StatsAccumulator acc;
    try {
      acc =
          new SampleProfiler(
                  m,
                  map,
                  cfg,
                  stats.executionProvider(),
                  stats.threads(),
                  stats.batchSize(),
                  stats.tiling())
              .profile(length, samples, null);
    } finally {
      SessionCache.closeAll();
    }
    List<HeadStat> rows = acc.toHeadStats(m.modelId(), "stats", map);
    PrintStream out = System.out;
    if (json) {
      out.println(Json.pretty(toJson(m, length, rows)));
    } else {
      printTable(m, rows, out);
    }
    return 0;
  }

  /**
   * {"model_id", "length", "heads": [{"layer", "head", "kv_head", "n_queries", stat: value, ...}]}.
   */
  static ObjectNode toJson(OnnxModel m, int length, List<HeadStat> rows) {
    ObjectMapper mapper = Json.MAPPER;
    ObjectNode root = mapper.createObjectNode();
    root.put("model_id", m.modelId());
    root.put("length", length);
    ArrayNode heads = root.putArray("heads");
    for (Map.Entry<String, Map<String, HeadStat>> e : byHead(rows).entrySet()) {
      ObjectNode h = heads.addObject();
      HeadStat first = e.getValue().values().iterator().next();
      h.put("layer", first.layer());
      h.put("head", first.head());
      h.put("kv_head", first.kvHead());
      h.put(
          "n_queries",
          e.getValue().values().stream()
              .filter(r -> r.stat().equals("entropy_mean"))
              .mapToLong(HeadStat::nQueries)
              .findFirst()
              .orElse(first.nQueries()));
      for (HeadStat r : e.getValue().values()) {
        h.put(r.stat(), r.value());
      }
    }
    return root;
  }

  private static Map<String, Map<String, HeadStat>> byHead(List<HeadStat> rows) {
    Map<String, Map<String, HeadStat>> out = new TreeMap<>();
    for (HeadStat r : rows) {
      out.computeIfAbsent(String.format("%05d/%05d", r.layer(), r.head()), k -> new TreeMap<>())
          .put(r.stat(), r);
    }
    return out;
  }

  private static void printTable(OnnxModel m, List<HeadStat> rows, PrintStream out) {
    out.println("model_id " + m.modelId());
    Map<String, Map<String, HeadStat>> heads = byHead(rows);
    List<String> cols = new ArrayList<>(heads.values().iterator().next().keySet());
    out.printf("%-6s %-5s", "layer", "head");
    for (String c : cols) { // full names: several differ only after 12 characters (coverage_s4_w16,
      // coverage_s4_w64)
      out.printf(" %" + Math.max(12, c.length()) + "s", c);
    }
    out.println();
    for (Map<String, HeadStat> h : heads.values()) {
      HeadStat first = h.values().iterator().next();
      out.printf("%-6d %-5d", first.layer(), first.head());
      for (String c : cols) {
        HeadStat s = h.get(c);
        out.printf(" %" + Math.max(12, c.length()) + ".5f", s == null ? Double.NaN : s.value());
      }
      out.println();
    }
  }
}
