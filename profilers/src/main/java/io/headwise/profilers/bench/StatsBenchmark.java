package io.headwise.profilers.bench;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import io.headwise.graph.AttentionBlock;
import io.headwise.graph.AttentionLocator;
import io.headwise.graph.AttentionMap;
import io.headwise.graph.AttentionProbe;
import io.headwise.graph.ModelFeeds;
import io.headwise.graph.ModelInputs;
import io.headwise.graph.ModelLimits;
import io.headwise.graph.OnnxModel;
import io.headwise.graph.OrtModels;
import io.headwise.profilers.Batch;
import io.headwise.profilers.CalibrationSample;
import io.headwise.profilers.ExecutionProvider;
import io.headwise.profilers.JvmStatsReducer;
import io.headwise.profilers.OrtSessionFactory;
import io.headwise.profilers.ProbeKind;
import io.headwise.profilers.StatsAccumulator;
import io.headwise.profilers.StatsConfig;
import io.headwise.profilers.StatsSession;
import io.headwise.schemas.HeadStat;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * The statistics benchmark ({@code headwise bench stats}): (1) the instrumented graph against the
 * plain graph on the same inputs, and (2) in-graph statistics against the naive route
 * (probabilities copied out as [B, H, T, T] and reduced in the JVM) at T = 1024, time and peak
 * resident memory, each route in its own child JVM so that peak RSS (VmHWM) belongs to that route
 * alone. All numbers are measured in one run; ratios compare runs of that run.
 */
public final class StatsBenchmark {
  /** One overhead measurement. */
  public record Overhead(
      String model, int batch, int length, String stats, double plainMs, double instrumentedMs) {
    public double ratio() {
      return instrumentedMs / plainMs;
    }
  }

  /**
   * One route of the in-graph vs naive comparison: median time, peak resident memory of the whole
   * process, resident memory once the model and session were loaded (before the first run), and
   * bytes copied out of ONNX Runtime.
   */
  public record Route(
      String route, double medianMs, long peakRssKb, long loadedRssKb, long fetchedBytes) {
    /** Peak memory the route itself added on top of the loaded process. */
    public long routeRssKb() {
      return Math.max(0, peakRssKb - loadedRssKb);
    }
  }

  private StatsBenchmark() {}

  /** Median time of {@code runs} timed runs after {@code warmup} untimed ones, in ms. */
  static double medianMs(int warmup, int runs, Runnable r) {
    for (int i = 0; i < warmup; i++) {
      r.run();
    }
    double[] t = new double[runs];
    for (int i = 0; i < runs; i++) {
      long t0 = System.nanoTime();
      r.run();
      t[i] = (System.nanoTime() - t0) / 1e6;
    }
    Arrays.sort(t);
    return t[runs / 2];
  }

  /** Random in-vocabulary ids, right-padded batch of {@code b} × {@code t}, all valid. */
  static Batch randomBatch(OnnxModel model, int b, int t, long seed, int leading) {
    ModelLimits limits = ModelLimits.of(model.graph(), ModelInputs.of(model.graph()));
    int vocab = (int) (limits.vocabSize() > 0 ? limits.vocabSize() : 500);
    SplittableRandom rnd = new SplittableRandom(seed);
    List<CalibrationSample> samples = new ArrayList<>();
    for (int i = 0; i < b; i++) {
      int[] ids = new int[t];
      for (int j = 0; j < t; j++) {
        ids[j] = rnd.nextInt(Math.min(3, vocab - 1), vocab);
      }
      ids[0] = leading;
      samples.add(CalibrationSample.of("b" + i, ids, null, CalibrationSample.SOURCE_IDS));
    }
    return Batch.pad(ProbeKind.PLAIN, samples, t);
  }

  /** Part 1: instrumented vs plain graph. */
  public static Overhead overhead(
      OnnxModel model,
      String name,
      int b,
      int t,
      StatsConfig config,
      String statsLabel,
      int threads,
      int runs) {
    AttentionMap map = AttentionLocator.locate(model);
    Batch batch = randomBatch(model, b, t, 11, name.contains("minilm") ? 101 : 1);
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    ModelInputs inputs = ModelInputs.of(model.graph());
    try (OrtSession plain =
            OrtSessionFactory.open(model, model.proto(), ExecutionProvider.CPU, threads);
        StatsSession stats =
            new StatsSession(
                model, map, config, ProbeKind.PLAIN, t, ExecutionProvider.CPU, threads)) {
      Map<String, OnnxTensor> feeds = ModelFeeds.create(env, inputs, batch.ids(), batch.mask());
      try {
        Runnable plainRun =
            () -> {
              try (OrtSession.Result r = plain.run(feeds)) {
                r.get(0);
              } catch (OrtException e) {
                throw new IllegalStateException(e);
              }
            };
        Runnable statsRun = () -> stats.run(batch);
        // alternate to spread machine noise evenly over both
        double p1 = medianMs(2, runs, plainRun);
        double s1 = medianMs(2, runs, statsRun);
        double p2 = medianMs(0, runs, plainRun);
        double s2 = medianMs(0, runs, statsRun);
        return new Overhead(name, b, t, statsLabel, Math.min(p1, p2), Math.min(s1, s2));
      } finally {
        feeds.values().forEach(OnnxTensor::close);
      }
    } catch (OrtException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Part 2, run inside a child JVM: one route on stories260k-like input; prints a RESULT line. */
  static Route route(
      OnnxModel model, String route, int b, int t, int threads, int runs, Path valuesOut)
      throws IOException {
    AttentionMap map = AttentionLocator.locate(model);
    StatsConfig config = StatsConfig.defaults();
    List<Integer> windows = config.windowsFor(t);
    Batch batch = randomBatch(model, b, t, 13, 1);
    StatsAccumulator[] last = new StatsAccumulator[1];
    long[] fetched = new long[1];
    long[] loaded = new long[1];
    double ms;
    if (route.equals("in-graph")) {
      try (StatsSession s =
          new StatsSession(
              model, map, config, ProbeKind.PLAIN, t, ExecutionProvider.CPU, threads)) {
        loaded[0] = rssKb();
        ms =
            medianMs(
                1,
                runs,
                () -> {
                  StatsAccumulator acc = new StatsAccumulator();
                  var r = s.run(batch);
                  acc.add(t, r);
                  last[0] = acc;
                  long bytes = 0;
                  for (float[][] m : r.sums().values()) {
                    bytes += 4L * m.length * m[0].length;
                  }
                  for (float[][] m : r.importance()) {
                    bytes += 4L * m.length * m[0].length;
                  }
                  fetched[0] = bytes;
                });
      }
    } else {
      LinkedHashSet<String> tensors = new LinkedHashSet<>();
      for (AttentionBlock blk : map.blocks()) {
        tensors.add(blk.probabilitiesTensor());
        tensors.add(blk.valueTensor());
      }
      Map<String, String> names = new HashMap<>();
      ModelProto exposed = AttentionProbe.exposeAsFloat(model.proto(), tensors, names);
      OrtEnvironment env = OrtEnvironment.getEnvironment();
      JvmStatsReducer reducer = new JvmStatsReducer(config, windows, map.block(0).causal());
      try (OrtSession session =
          OrtSessionFactory.open(model, exposed, ExecutionProvider.CPU, threads)) {
        Map<String, OnnxTensor> feeds =
            ModelFeeds.create(env, ModelInputs.of(model.graph()), batch.ids(), batch.mask());
        loaded[0] = rssKb();
        ms =
            medianMs(
                1,
                runs,
                () -> {
                  StatsAccumulator acc = new StatsAccumulator();
                  long bytes = 0;
                  try (OrtSession.Result r =
                      session.run(feeds, new LinkedHashSet<>(names.values()))) {
                    for (AttentionBlock blk : map.blocks()) {
                      float[] p =
                          OrtModels.floats(
                              (OnnxTensor)
                                  r.get(names.get(blk.probabilitiesTensor())).orElseThrow());
                      OnnxTensor vt =
                          (OnnxTensor) r.get(names.get(blk.valueTensor())).orElseThrow();
                      long[] vs = vt.getInfo().getShape();
                      float[] v = OrtModels.floats(vt);
                      bytes += 4L * (p.length + v.length);
                      reducer.add(
                          acc,
                          t,
                          blk.layer(),
                          batch,
                          p,
                          v,
                          blk.numHeads(),
                          (int) vs[1],
                          (int) vs[3]);
                    }
                  } catch (OrtException e) {
                    throw new IllegalStateException(e);
                  }
                  last[0] = acc;
                  fetched[0] = bytes;
                });
        feeds.values().forEach(OnnxTensor::close);
      } catch (OrtException e) {
        throw new IllegalStateException(e);
      }
    }
    if (valuesOut != null) {
      List<String> lines = new ArrayList<>();
      for (HeadStat h : last[0].toHeadStats(model.modelId(), route, map)) {
        lines.add(h.layer() + " " + h.head() + " " + h.stat() + " " + h.value());
      }
      Files.write(valuesOut, lines);
    }
    return new Route(route, ms, peakRssKb(), loaded[0], fetched[0]);
  }

  /** Peak resident set size of this process (VmHWM), in KiB; -1 where /proc is absent. */
  static long peakRssKb() {
    return status("VmHWM:");
  }

  /** Current resident set size of this process (VmRSS), in KiB. */
  static long rssKb() {
    return status("VmRSS:");
  }

  private static long status(String field) {
    try {
      for (String l : Files.readAllLines(Path.of("/proc/self/status"))) {
        if (l.startsWith(field)) {
          return Long.parseLong(l.replaceAll("[^0-9]", ""));
        }
      }
    } catch (IOException | NumberFormatException e) {
      return -1;
    }
    return -1;
  }

  /** Runs one route in a child JVM with the same classpath and returns its result. */
  public static Route routeInChild(
      String modelPath, String route, int b, int t, int threads, int runs, Path valuesOut)
      throws IOException, InterruptedException {
    List<String> f =
        ChildJvm.run(
            "-Xmx12g",
            StatsBenchmark.class,
            List.of(
                "child",
                modelPath,
                route,
                String.valueOf(b),
                String.valueOf(t),
                String.valueOf(threads),
                String.valueOf(runs),
                valuesOut == null ? "-" : valuesOut.toString()),
            "route " + route);
    return new Route(
        f.get(0),
        Double.parseDouble(f.get(1)),
        Long.parseLong(f.get(2)),
        Long.parseLong(f.get(3)),
        Long.parseLong(f.get(4)));
  }

  /** Child entry point: {@code child MODEL ROUTE B T THREADS RUNS VALUES_OUT|-}. */
  public static void main(String[] args) throws Exception {
    if (args.length == 8 && args[0].equals("child")) {
      OnnxModel model = OnnxModel.load(args[1]);
      Route r =
          route(
              model,
              args[2],
              Integer.parseInt(args[3]),
              Integer.parseInt(args[4]),
              Integer.parseInt(args[5]),
              Integer.parseInt(args[6]),
              args[7].equals("-") ? null : Path.of(args[7]));
      System.out.println(
          String.format(
              Locale.ROOT,
              "RESULT %s %.3f %d %d %d",
              r.route(),
              r.medianMs(),
              r.peakRssKb(),
              r.loadedRssKb(),
              r.fetchedBytes()));
      System.exit(0);
    }
    System.err.println("usage: run through 'headwise bench stats'");
    System.exit(2);
  }
}
