package io.headwise.jobs.cli;

import io.headwise.graph.OnnxModel;
import io.headwise.planners.bench.MoaSolverBenchmark;
import io.headwise.planners.moa.MoaSolver;
import io.headwise.planners.quant.bench.GptqBenchmark;
import io.headwise.profilers.IdArrays;
import io.headwise.profilers.StatsConfig;
import io.headwise.profilers.bench.StatsBenchmark;
import io.headwise.schemas.HeadwiseException;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.DoubleSummaryStatistics;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code headwise bench}: the project's benchmarks; every ratio compares runs made in the same
 * invocation.
 */
@Command(
    name = "bench",
    mixinStandardHelpOptions = true,
    description =
        "Benchmarks: stats (in-graph statistics overhead and vs the naive route), profile (local[1] vs"
            + " local[2] throughput), moa (solver on Llama-3-8B-shaped statistics), gptq (a 4096 x 4096 layer), scale"
            + " (long-context profiling memory and time on a Llama-3-8B-shaped layer).",
    subcommands = {
      BenchCommand.Stats.class,
      BenchCommand.Profile.class,
      BenchCommand.Moa.class,
      BenchCommand.Gptq.class,
      DecodeBench.class,
      BenchScale.class
    })
public final class BenchCommand implements Runnable {
  public static final String DECODER = "--decoder";
  public static final String RUNS = "--runs";
  public static final Path DEFAULT_DECODER =
      Path.of("..", "shared", "models", "stories260k", "stories260k.onnx");

  @Override
  public void run() {
    new picocli.CommandLine(this).usage(System.out);
  }

  static Path decoder(Path p) {
    if (!Files.exists(p)) {
      throw new HeadwiseException(
          "benchmark decoder not found: "
              + p
              + " (pass "
              + DECODER
              + " PATH, e.g. ../shared/models/stories260k/stories260k.onnx)");
    }
    return p;
  }

  /** {@code bench stats}. */
  @Command(
      name = "stats",
      mixinStandardHelpOptions = true,
      description =
          "(1) instrumented vs plain graph: MiniLM 8x256, decoder 8x512; (2) in-graph vs naive route at"
              + " T = 1024: time and peak RSS, each route in its own JVM.")
  public static final class Stats implements Callable<Integer> {
    @Option(
        names = DECODER,
        description = "Decoder for 8x512 and T=1024 (default: ${DEFAULT-VALUE}).")
    Path decoderPath = DEFAULT_DECODER;

    @Option(names = RUNS, defaultValue = "5", description = "Timed runs per measurement (median).")
    int runs;

    @Option(
        names = OptionNames.THREADS,
        defaultValue = "0",
        description = "ONNX Runtime threads (0 = all cores).")
    int threads;

    @Option(
        names = OptionNames.BATCH_SIZE,
        defaultValue = "2",
        description = "Batch of the T=1024 comparison.")
    int batch;

    @Override
    public Integer call() throws Exception {
      Path dec = decoder(decoderPath);
      StatsConfig full = StatsConfig.defaults();
      StatsConfig cheap =
          new StatsConfig(
              full.sinks(),
              full.windows(),
              full.streamSinks(),
              full.heavyHitterPercents(),
              false,
              true,
              full.bucketEighths());
      // the default grid before it added every eighth of the bucket, to show what the eighths cost
      StatsConfig fixedGrid =
          new StatsConfig(
              full.sinks(),
              full.windows(),
              full.streamSinks(),
              full.heavyHitterPercents(),
              true,
              true,
              false);
      OnnxModel mini = OnnxModel.load("default");
      OnnxModel stories = OnnxModel.load(dec);
      System.out.println(
          "(1) instrumented graph vs plain graph (median of " + runs + " runs, same inputs)");
      System.out.printf(
          "%-12s %-8s %-26s %10s %14s %7s%n",
          "model", "B x T", "statistics", "plain ms", "instrumented ms", "ratio");
      record Case(OnnxModel model, String name, int batch, int length) {}
      record Statistics(StatsConfig config, String name) {}
      for (Case c :
          List.of(new Case(mini, "minilm", 8, 256), new Case(stories, "stories260k", 8, 512))) {
        for (Statistics s :
            List.of(
                new Statistics(full, "all (default)"),
                new Statistics(fixedGrid, "all, windows 1,4,...,4096"),
                new Statistics(cheap, "all but stream_deviation"))) {
          StatsBenchmark.Overhead o =
              StatsBenchmark.overhead(
                  c.model(), c.name(), c.batch(), c.length(), s.config(), s.name(), threads, runs);
          System.out.printf(
              Locale.ROOT,
              "%-12s %-8s %-26s %10.1f %14.1f %6.2fx%n",
              o.model(),
              o.batch() + "x" + o.length(),
              o.stats(),
              o.plainMs(),
              o.instrumentedMs(),
              o.ratio());
        }
      }
      System.out.println();
      System.out.println(
          "(2) in-graph vs naive (expose [B,H,T,T], reduce in the JVM), decoder "
              + batch
              + " x 1024, all statistics, separate JVMs");
      Path dir = Files.createTempDirectory("headwise-bench");
      StatsBenchmark.Route in =
          StatsBenchmark.routeInChild(
              dec.toString(), "in-graph", batch, 1024, threads, runs, dir.resolve("in-graph.txt"));
      StatsBenchmark.Route naive =
          StatsBenchmark.routeInChild(
              dec.toString(),
              "naive",
              batch,
              1024,
              threads,
              Math.max(1, runs / 2),
              dir.resolve("naive.txt"));
      System.out.printf(
          "%-9s %12s %14s %16s %16s%n",
          "route", "median ms", "peak RSS MiB", "route RSS MiB", "fetched bytes");
      for (StatsBenchmark.Route r : List.of(in, naive)) {
        System.out.printf(
            Locale.ROOT,
            "%-9s %12.1f %14.1f %16.1f %16d%n",
            r.route(),
            r.medianMs(),
            r.peakRssKb() / 1024.0,
            r.routeRssKb() / 1024.0,
            r.fetchedBytes());
      }
      System.out.println(
          "(route RSS = peak resident memory above the process once model and session were loaded)");
      System.out.printf(
          Locale.ROOT,
          "speed-up %.1fx; memory: peak RSS %.1fx less, route RSS %.1fx less; %.0fx fewer"
              + " bytes fetched%n",
          naive.medianMs() / in.medianMs(),
          (double) naive.peakRssKb() / in.peakRssKb(),
          (double) naive.routeRssKb() / Math.max(1, in.routeRssKb()),
          (double) naive.fetchedBytes() / in.fetchedBytes());
      System.out.printf(
          Locale.ROOT,
          "max |in-graph - naive| over all statistics: %.2e%n",
          maxDifference(dir.resolve("in-graph.txt"), dir.resolve("naive.txt")));
      return 0;
    }

    private static double maxDifference(Path a, Path b) throws IOException {
      Map<String, Double> x = new HashMap<>();
      for (String l : Files.readAllLines(a)) {
        int i = l.lastIndexOf(' ');
        x.put(l.substring(0, i), Double.parseDouble(l.substring(i + 1)));
      }
      double max = 0;
      for (String l : Files.readAllLines(b)) {
        int i = l.lastIndexOf(' ');
        Double v = x.get(l.substring(0, i));
        if (v == null) {
          return Double.POSITIVE_INFINITY;
        }
        max = Math.max(max, Math.abs(v - Double.parseDouble(l.substring(i + 1))));
      }
      return max;
    }
  }

  /** {@code bench profile}. */
  @Command(
      name = "profile",
      mixinStandardHelpOptions = true,
      description =
          "Profile throughput of local[1] vs local[2] (each in its own JVM, one ORT thread per task).")
  public static final class Profile implements Callable<Integer> {
    @Option(names = DECODER, description = "Model to profile (default: ${DEFAULT-VALUE}).")
    Path decoderPath = DEFAULT_DECODER;

    @Option(
        names = "--copies",
        defaultValue = "32",
        description =
            "Copies of the model's calib_ids.json to profile"
                + " (default ${DEFAULT-VALUE}: 256 samples; with few samples each task's session setup dominates).")
    int copies;

    @Option(
        names = "--runs",
        defaultValue = "1",
        description =
            "Pairs of local[1] and local[2] runs (default ${DEFAULT-VALUE}); with more than one,"
                + " the spread of local[1]'s time for identical work shows how much the host moves.")
    int runs;

    private static final Pattern DONE =
        Pattern.compile("bucket (\\d+) \\((\\d+) samples.*done in ([0-9.]+) s");

    @Override
    public Integer call() throws Exception {
      if (runs < 1) {
        throw new HeadwiseException("--runs must be at least 1, got " + runs);
      }
      Path dec = decoder(decoderPath);
      Path ids = dec.getParent().resolve("calib_ids.json");
      if (!Files.exists(ids)) {
        throw new HeadwiseException("bench profile needs calib_ids.json next to the model: " + ids);
      }
      Path dir = Files.createTempDirectory("headwise-bench-profile");
      Path calib = dir.resolve("calib.jsonl");
      int[][] seqs = IdArrays.read(ids, "calib_ids.json");
      List<String> lines = new ArrayList<>();
      for (int c = 0; c < copies; c++) {
        for (int i = 0; i < seqs.length; i++) {
          StringBuilder sb =
              new StringBuilder("{\"sample_id\":\"c" + c + "-" + i + "\",\"input_ids\":[");
          for (int j = 0; j < seqs[i].length; j++) {
            sb.append(j == 0 ? "" : ",").append(seqs[i][j]);
          }
          lines.add(sb.append("]}").toString());
        }
      }
      Files.write(calib, lines);
      DoubleSummaryStatistics ratios = new DoubleSummaryStatistics();
      DoubleSummaryStatistics oneCore = new DoubleSummaryStatistics();
      for (int run = 1; run <= runs; run++) {
        Timed one = profileOnce(dec, calib, dir.resolve("wh" + run + "-1"), 1);
        Timed two = profileOnce(dec, calib, dir.resolve("wh" + run + "-2"), 2);
        ratios.accept(one.seconds() / two.seconds());
        oneCore.accept(one.seconds());
        System.out.printf(
            Locale.ROOT,
            "profile %d samples (run %d/%d): local[1] %.1f s (%.2f samples/s), local[2] %.1f s"
                + " (%.2f samples/s); throughput ratio %.2fx%n",
            one.samples(),
            run,
            runs,
            one.seconds(),
            one.samples() / one.seconds(),
            two.seconds(),
            two.samples() / two.seconds(),
            one.seconds() / two.seconds());
      }
      if (runs > 1) {
        // the spread of identical single-core work says how far the host itself moves between runs
        System.out.printf(
            Locale.ROOT,
            "%d runs: ratio min %.2fx max %.2fx; local[1] for identical work %.1f-%.1f s (max/min"
                + " %.2f)%n",
            runs,
            ratios.getMin(),
            ratios.getMax(),
            oneCore.getMin(),
            oneCore.getMax(),
            oneCore.getMax() / oneCore.getMin());
      }
      return 0;
    }

    /** Samples profiled and the seconds their buckets took (Spark session start excluded). */
    private record Timed(int samples, double seconds) {}

    /** Profiles {@code calib} under {@code local[k]} in a JVM of its own. */
    private static Timed profileOnce(Path dec, Path calib, Path warehouse, int k) throws Exception {
      List<String> cmd = ChildProfile.command(dec, calib, warehouse, "bench", k, "8g");
      Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
      int samples = 0;
      double seconds = 0;
      try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream()))) {
        String line;
        while ((line = r.readLine()) != null) {
          Matcher m = DONE.matcher(line);
          if (m.find()) {
            seconds += Double.parseDouble(m.group(3));
            samples += Integer.parseInt(m.group(2));
          }
        }
      }
      if (p.waitFor() != 0) {
        throw new IllegalStateException("profile with local[" + k + "] failed");
      }
      return new Timed(samples, seconds);
    }
  }

  /** {@code bench moa}. */
  @Command(
      name = "moa",
      mixinStandardHelpOptions = true,
      description =
          "Solve MoA on Llama-3-8B-shaped synthetic statistics (32 x 32 heads, 48 rules, 4 lengths).")
  public static final class Moa implements Callable<Integer> {
    @Option(
        names = "--seeds",
        split = ",",
        defaultValue = "1,2,3,4,5",
        description = "Seeds of the instances.")
    List<Long> seeds;

    @Option(names = "--time-limit", defaultValue = "5", description = "Seconds per solve.")
    double timeLimit;

    @Override
    public Integer call() {
      MoaSolver.loadNativeLibraries();
      for (long s : seeds) {
        System.out.println("seed " + s + ": " + MoaSolverBenchmark.run(s, timeLimit, 0.005, 2));
      }
      return 0;
    }
  }

  /** {@code bench gptq}. */
  @Command(
      name = "gptq",
      mixinStandardHelpOptions = true,
      description = "GPTQ on a 4096 x 4096 layer with a random positive-definite Hessian.")
  public static final class Gptq implements Callable<Integer> {
    @Option(names = "--size", defaultValue = "4096", description = "K = N.")
    int size;

    @Override
    public Integer call() {
      System.out.println(GptqBenchmark.run(size, size, 1));
      return 0;
    }
  }
}
