package io.headwise.jobs.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.headwise.graph.AtomicFiles;
import io.headwise.graph.AttentionLocator;
import io.headwise.graph.OnnxModel;
import io.headwise.graph.synth.SynthDtype;
import io.headwise.graph.synth.SynthShape;
import io.headwise.graph.synth.SynthSpec;
import io.headwise.graph.synth.SyntheticLlama;
import io.headwise.profilers.bench.ScaleBenchmark;
import io.headwise.profilers.bench.ScaleBenchmark.Result;
import io.headwise.profilers.bench.ScaleBenchmark.Route;
import io.headwise.schemas.HeadwiseException;
import io.headwise.schemas.Json;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code headwise bench scale}: memory and time of long-context profiling on a Llama-3-8B-shaped
 * decoder layer, batch 1, per route and length, each in its own child JVM ({@link ScaleBenchmark}).
 */
@Command(
    name = "scale",
    mixinStandardHelpOptions = true,
    description =
        "Long-context profiling on a synthetic Llama-3-8B-shaped model (1 layer, batch 1): peak RSS,"
            + " memory above the loaded model and seconds per 1k tokens for (a) plain, (b) tiled core with minimal"
            + " statistics, (c) tiled core with all default statistics, (d) untiled instrumented; every route"
            + " computes the model's outputs too (a full forward pass); one child JVM per route and length.")
public final class BenchScale implements Callable<Integer> {
  @Option(
      names = OptionNames.MODEL,
      paramLabel = "PATH",
      description =
          "Model to measure (default: generate synth llama3-8b, --layers layers, --vocab tokens).")
  Path model;

  @Option(
      names = OptionNames.LAYERS,
      defaultValue = "1",
      description = "Layers of the generated model.")
  int layers;

  @Option(
      names = OptionNames.VOCAB,
      defaultValue = "1024",
      description =
          "Vocabulary of the generated model (small, so logits do not dominate; default: ${DEFAULT-VALUE}).")
  int vocab;

  @Option(
      names = "--lengths",
      split = ",",
      defaultValue = "2048,4096,8192,16384",
      description = "Sequence lengths (default: ${DEFAULT-VALUE}).")
  List<Integer> lengths;

  @Option(names = "--with-32k", description = "Also measure T = 32768.")
  boolean with32k;

  @Option(
      names = "--routes",
      split = ",",
      defaultValue = "plain,tiled-min,tiled,untiled",
      description = "Routes (default: ${DEFAULT-VALUE}).")
  List<String> routes;

  @Option(
      names = "--query-block",
      defaultValue = "256",
      description =
          "Query rows per tiled block (default:"
              + " ${DEFAULT-VALUE}; fixed, so the tiled routes' memory is linear in T).")
  int queryBlock;

  @Option(
      names = "--quadratic-limit-gib",
      defaultValue = "10",
      description =
          "Skip the routes that materialise"
              + " [B, H, T, T] when their estimated T x T tensors exceed this (default: ${DEFAULT-VALUE} GiB).")
  double quadraticLimitGib;

  @Option(
      names = OptionNames.THREADS,
      defaultValue = "0",
      description = "ONNX Runtime threads (0 = all cores).")
  int threads;

  @Option(
      names = OptionNames.JSON,
      paramLabel = "FILE",
      description = "Also write the results as JSON here.")
  Path json;

  /**
   * Live [B, H, T, T] float tensors a quadratic route holds at its peak (estimate used to skip it).
   */
  static int quadraticTensors(Route r) {
    return r == Route.PLAIN ? 3 : 6;
  }

  @Override
  public Integer call() throws Exception {
    if (queryBlock <= 0) {
      throw new HeadwiseException("--query-block must be positive, got " + queryBlock);
    }
    List<Route> rs = new ArrayList<>();
    for (String r : routes) {
      try {
        rs.add(Route.of(r.trim()));
      } catch (IllegalArgumentException e) {
        throw new HeadwiseException(
            "unknown route '" + r + "'; routes: plain, tiled-min, tiled, untiled");
      }
    }
    List<Integer> ts = new ArrayList<>(lengths);
    if (with32k && !ts.contains(32768)) {
      ts.add(32768);
    }
    for (int t : ts) {
      if (t < 2 * ScaleBenchmark.WARM_LENGTH) {
        throw new HeadwiseException(
            "--lengths must be at least " + 2 * ScaleBenchmark.WARM_LENGTH + ", got " + t);
      }
    }
    Path dir = null;
    Path m = model;
    if (m == null) {
      dir = Files.createTempDirectory("headwise-bench-scale");
      m = dir.resolve("llama3-8b-" + layers + "l.onnx");
      long t0 = System.nanoTime();
      SyntheticLlama.Written w =
          SyntheticLlama.write(
              new SynthSpec(SynthShape.LLAMA3_8B, layers, vocab, SynthDtype.FLOAT32, false, 0), m);
      System.out.printf(
          Locale.ROOT,
          "model: synth llama3-8b, %d layer(s), vocab %d: %,d parameters, %.2f GiB"
              + " (written in %.1f s)%n",
          layers,
          vocab,
          w.parameters(),
          w.dataBytes() / (double) (1L << 30),
          (System.nanoTime() - t0) / 1e9);
    } else {
      AttentionLocator.locate(OnnxModel.load(m)).requireAttention(m.toString());
      System.out.println("model: " + m);
    }
    int heads = SynthShape.LLAMA3_8B.heads();
    Map<Route, Map<Integer, Result>> results = new LinkedHashMap<>();
    Map<Route, Map<Integer, String>> skipped = new LinkedHashMap<>();
    try {
      System.out.printf(
          "%-10s %7s %10s %12s %14s %12s%n",
          "route", "T", "seconds", "s / 1k tok", "peak RSS MiB", "above MiB");
      for (int t : ts) {
        for (Route r : rs) {
          double gib =
              r.quadratic() ? (double) heads * t * t * 4 * quadraticTensors(r) / (1L << 30) : 0;
          if (gib > quadraticLimitGib) {
            String why =
                String.format(
                    Locale.ROOT,
                    "skipped: ~%.0f GiB of [B, H, T, T] tensors > %.0f GiB",
                    gib,
                    quadraticLimitGib);
            skipped.computeIfAbsent(r, k -> new LinkedHashMap<>()).put(t, why);
            System.out.printf(Locale.ROOT, "%-10s %7d %s%n", r.label, t, why);
            continue;
          }
          Result res = ScaleBenchmark.inChild(m, r, t, queryBlock, threads);
          results.computeIfAbsent(r, k -> new LinkedHashMap<>()).put(t, res);
          System.out.printf(
              Locale.ROOT,
              "%-10s %7d %10.2f %12.3f %14.1f %12.1f%n",
              r.label,
              t,
              res.seconds(),
              res.secondsPer1k(),
              res.peakRssKb() / 1024.0,
              res.aboveLoadedKb() / 1024.0);
        }
      }
    } finally {
      if (dir != null) {
        try (var files = Files.list(dir)) {
          for (Path p : files.toList()) {
            Files.deleteIfExists(p);
          }
        }
        Files.deleteIfExists(dir);
      }
    }
    System.out.println();
    ObjectNode root = Json.MAPPER.createObjectNode();
    root.put(
        "model",
        model == null ? "synth llama3-8b layers=" + layers + " vocab=" + vocab : model.toString());
    root.put("batch", 1);
    root.put("query_block", queryBlock);
    ArrayNode rows = root.putArray("results");
    for (var e : results.entrySet()) {
      for (Result r : e.getValue().values()) {
        ObjectNode o = rows.addObject();
        o.put("route", r.route().label);
        o.put("length", r.length());
        o.put("seconds", r.seconds());
        o.put("seconds_per_1k_tokens", r.secondsPer1k());
        o.put("peak_rss_kib", r.peakRssKb());
        o.put("loaded_rss_kib", r.loadedRssKb());
        o.put("above_loaded_kib", r.aboveLoadedKb());
      }
    }
    ArrayNode sk = root.putArray("skipped");
    skipped.forEach(
        (r, m2) ->
            m2.forEach(
                (t, why) ->
                    sk.addObject().put("route", r.label).put("length", t).put("reason", why)));
    ObjectNode goals = root.putObject("ratios");
    summary(results, ts, goals);
    if (json != null) {
      AtomicFiles.write(json, os -> os.write(Json.fileBytes(root)));
      System.out.println("JSON written to " + json);
    }
    return 0;
  }

  private static void summary(
      Map<Route, Map<Integer, Result>> res, List<Integer> ts, ObjectNode out) {
    Map<Integer, Result> tiled = res.getOrDefault(Route.TILED, Map.of());
    Map<Integer, Result> min = res.getOrDefault(Route.TILED_MIN, Map.of());
    Map<Integer, Result> plain = res.getOrDefault(Route.PLAIN, Map.of());
    ArrayNode per = out.putArray("per_length");
    for (int t : ts) {
      ObjectNode o = per.addObject().put("length", t);
      if (tiled.containsKey(t) && plain.containsKey(t)) {
        double r = tiled.get(t).seconds() / plain.get(t).seconds();
        o.put("tiled_over_plain_time", r);
        System.out.printf(Locale.ROOT, "T = %d: (c)/(a) time %.2f%n", t, r);
      }
      if (tiled.containsKey(t) && min.containsKey(t)) {
        double r = tiled.get(t).seconds() / min.get(t).seconds();
        o.put("tiled_over_tiled_min_time", r);
        System.out.printf(Locale.ROOT, "T = %d: (c)/(b) time %.2f%n", t, r);
      }
    }
    if (tiled.containsKey(2048) && tiled.containsKey(16384)) {
      double m2 = tiled.get(2048).aboveLoadedKb();
      double m16 = tiled.get(16384).aboveLoadedKb();
      double ratio = m16 / Math.max(1, m2);
      out.put("tiled_mem_16k_over_2k", ratio);
      System.out.printf(
          Locale.ROOT,
          "goal mem(16k) <= 1.1 x 8 x mem(2k) (tiled, memory above loaded): %.1f /"
              + " %.1f MiB = %.2f x (goal <= 8.8): %s%n",
          m16 / 1024,
          m2 / 1024,
          ratio,
          ratio <= 8.8 ? "met" : "not met");
    }
    if (tiled.containsKey(4096) && plain.containsKey(4096)) {
      double r = tiled.get(4096).seconds() / plain.get(4096).seconds();
      out.put("tiled_over_plain_time_4k", r);
      System.out.printf(
          Locale.ROOT,
          "goal (c) <= 1.3 x (a) at T = 4096: %.2f x: %s%n",
          r,
          r <= 1.3 ? "met" : "not met");
    }
  }
}
