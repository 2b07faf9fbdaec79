package io.headwise.profilers.bench;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import io.headwise.graph.AttentionLocator;
import io.headwise.graph.AttentionMap;
import io.headwise.graph.ModelFeeds;
import io.headwise.graph.ModelInputs;
import io.headwise.graph.OnnxModel;
import io.headwise.profilers.Batch;
import io.headwise.profilers.ExecutionProvider;
import io.headwise.profilers.InstrumentedModel;
import io.headwise.profilers.OrtSessionFactory;
import io.headwise.profilers.ProbeKind;
import io.headwise.profilers.StatsConfig;
import io.headwise.profilers.StatsInstrumenter;
import io.headwise.profilers.StatsSession;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The long-context scale benchmark ({@code headwise bench scale}): one route at one length per
 * child JVM, so the child's peak resident set (VmHWM) is that route's alone. Routes: {@code plain}
 * (the model as exported: [B, H, T, T] scores and probabilities), {@code tiled-min} (the
 * query-tiled core with the smallest statistic set the configuration allows: one sink size, one
 * window, no stream deviation, no token importance — the core's own cost), {@code tiled} (the tiled
 * core with every default statistic), {@code untiled} (the untiled instrumented graph with every
 * default statistic, which reads the model's own [B, H, T, T] probabilities). Every route computes
 * the model's own outputs too, so each does a full forward pass and the ratios to {@code plain}
 * compare like with like.
 *
 * <p>The child first runs the route once at a short length ({@value #WARM_LENGTH} tokens), which
 * pages in and pre-packs every weight; the resident set after that is the "loaded" baseline. The
 * kernel's peak-RSS mark is then reset ({@code /proc/self/clear_refs}, value 5), so the reported
 * peak is the timed run's own, not the transient peak of session creation (ONNX Runtime holds
 * weights twice while it pre-packs them); the route's memory is that peak above the baseline.
 */
public final class ScaleBenchmark {
  public static final int WARM_LENGTH = 64;

  /** The routes, in the order the issue names them (a)–(d). */
  public enum Route {
    PLAIN("plain"),
    TILED_MIN("tiled-min"),
    TILED("tiled"),
    UNTILED("untiled");

    public final String label;

    Route(String label) {
      this.label = label;
    }

    /** Whether the route materialises [B, H, T, T] (and may not fit at long lengths). */
    public boolean quadratic() {
      return this == PLAIN || this == UNTILED;
    }

    public static Route of(String label) {
      for (Route r : values()) {
        if (r.label.equals(label)) {
          return r;
        }
      }
      throw new IllegalArgumentException("route " + label);
    }
  }

  /** One measurement: time of the run at {@code length}, peak and loaded resident memory (KiB). */
  public record Result(Route route, int length, double seconds, long peakRssKb, long loadedRssKb) {
    public long aboveLoadedKb() {
      return Math.max(0, peakRssKb - loadedRssKb);
    }

    /** Seconds per 1000 tokens. */
    public double secondsPer1k() {
      return seconds * 1000.0 / length;
    }
  }

  private ScaleBenchmark() {}

  /** The statistics of a route (null for the plain model). */
  static StatsConfig config(Route route) {
    return switch (route) {
      case PLAIN -> null;
      case TILED_MIN ->
          new StatsConfig(List.of(1), List.of(1), List.of(1), List.of(100), false, false);
      case TILED, UNTILED -> StatsConfig.defaults();
    };
  }

  /**
   * Runs one route in this JVM: a warm-up at {@value #WARM_LENGTH} tokens, then one timed run at
   * {@code t}.
   */
  static Result run(OnnxModel model, Route route, int t, int queryBlock, int threads) {
    AttentionMap map = AttentionLocator.locate(model);
    Batch warm = StatsBenchmark.randomBatch(model, 1, WARM_LENGTH, 5, 1);
    Batch batch = StatsBenchmark.randomBatch(model, 1, t, 7, 1);
    if (route == Route.PLAIN) {
      OrtEnvironment env = OrtEnvironment.getEnvironment();
      ModelInputs inputs = ModelInputs.of(model.graph());
      try (OrtSession s =
          OrtSessionFactory.open(model, model.proto(), ExecutionProvider.CPU, threads)) {
        runPlain(s, env, inputs, warm);
        long loaded = resetPeak();
        long t0 = System.nanoTime();
        runPlain(s, env, inputs, batch);
        return new Result(
            route, t, (System.nanoTime() - t0) / 1e9, StatsBenchmark.peakRssKb(), loaded);
      } catch (OrtException e) {
        throw new IllegalStateException(e);
      }
    }
    int block = route == Route.UNTILED ? 0 : queryBlock;
    // Every route keeps the model's outputs: the statistics graph would otherwise drop the last
    // layer's MLP and head, which in a one-layer model is most of the forward pass (a real-depth
    // profile drops them only for its last layer).
    InstrumentedModel graph =
        StatsInstrumenter.instrument(model, map, config(route), ProbeKind.PLAIN, t, block, true);
    try (StatsSession s = new StatsSession(graph, model, ExecutionProvider.CPU, threads)) {
      if (route != Route.UNTILED && s.instrumented().tiledLayers().size() != map.numLayers()) {
        throw new IllegalStateException(
            "route "
                + route.label
                + ": only layers "
                + s.instrumented().tiledLayers()
                + " of "
                + map.numLayers()
                + " run through the tiled core");
      }
      s.run(warm);
      long loaded = resetPeak();
      long t0 = System.nanoTime();
      s.run(batch);
      return new Result(
          route, t, (System.nanoTime() - t0) / 1e9, StatsBenchmark.peakRssKb(), loaded);
    }
  }

  /** Resets this process's peak-RSS mark to its current RSS and returns that RSS (KiB). */
  static long resetPeak() {
    try {
      java.nio.file.Files.writeString(Path.of("/proc/self/clear_refs"), "5");
    } catch (IOException e) {
      throw new IllegalStateException(
          "cannot reset the peak RSS mark (/proc/self/clear_refs): " + e.getMessage(), e);
    }
    return StatsBenchmark.rssKb();
  }

  private static void runPlain(OrtSession s, OrtEnvironment env, ModelInputs inputs, Batch b)
      throws OrtException {
    Map<String, OnnxTensor> feeds = ModelFeeds.create(env, inputs, b.ids(), b.mask());
    try (OrtSession.Result r = s.run(feeds)) {
      r.get(0);
    } finally {
      feeds.values().forEach(OnnxTensor::close);
    }
  }

  /** Runs one route at one length in a child JVM with the same classpath and returns its result. */
  public static Result inChild(Path model, Route route, int t, int queryBlock, int threads)
      throws IOException, InterruptedException {
    List<String> f =
        ChildJvm.run(
            "-Xmx2g",
            ScaleBenchmark.class,
            List.of(
                "child",
                model.toString(),
                route.label,
                String.valueOf(t),
                String.valueOf(queryBlock),
                String.valueOf(threads)),
            "route " + route.label + " at T = " + t);
    return new Result(
        Route.of(f.get(0)),
        Integer.parseInt(f.get(1)),
        Double.parseDouble(f.get(2)),
        Long.parseLong(f.get(3)),
        Long.parseLong(f.get(4)));
  }

  /** Child entry point: {@code child MODEL ROUTE T QUERY_BLOCK THREADS}. */
  public static void main(String[] args) {
    if (args.length == 6 && args[0].equals("child")) {
      Result r =
          run(
              OnnxModel.load(args[1]),
              Route.of(args[2]),
              Integer.parseInt(args[3]),
              Integer.parseInt(args[4]),
              Integer.parseInt(args[5]));
      System.out.println(
          String.format(
              Locale.ROOT,
              "RESULT %s %d %.3f %d %d",
              r.route().label,
              r.length(),
              r.seconds(),
              r.peakRssKb(),
              r.loadedRssKb()));
      System.exit(0);
    }
    System.err.println("usage: run through 'headwise bench scale'");
    System.exit(2);
  }
}
