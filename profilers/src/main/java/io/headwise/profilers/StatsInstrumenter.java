package io.headwise.profilers;

import static io.headwise.graph.ElementType.BOOL;
import static io.headwise.graph.ElementType.FLOAT;
import static io.headwise.graph.ElementType.INT64;
import static io.headwise.graph.GraphBuilder.intAttr;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import io.headwise.graph.AttentionBlock;
import io.headwise.graph.AttentionMap;
import io.headwise.graph.FunctionInliner;
import io.headwise.graph.GraphBuilder;
import io.headwise.graph.ModelInputs;
import io.headwise.graph.OnnxModel;
import io.headwise.graph.Tensors;
import io.headwise.schemas.StatNames;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Appends per-head statistic subgraphs to each attention block so that ONNX Runtime (the GPU under
 * CUDA EP) reduces the block's probabilities to [B, H] sums and [B] counts.
 *
 * <p>How: positions are counted over valid tokens only (p = cumsum(mask) − 1). With C the
 * cumulative sum of P over keys, the mass a query puts on keys of valid position ≤ q is M(q) = C[i,
 * F(q+1) − 1], where F(k) = #{j : cc_j ≤ k} is a [B, T+1] table shared by all layers (padded keys
 * carry zero probability, so a prefix in raw key order is a prefix in valid positions). Sink, local
 * and coverage masses are differences of M at a few q per query — gathers, not T×T masks. Entropy,
 * column mass (heavy hitters, token importance) and stream deviation need one pass over P each;
 * echo, induction and needle masses use position masks (see {@link RowStats}). Everything is fp32
 * in the graph; the Java side accumulates the sums in double.
 *
 * <p>Two routes per layer. Untiled: the statistics read the model's own [B, H, T, T] probabilities.
 * Query-tiled (a query block smaller than the graph's length, layers {@link TiledCore} can
 * rewrite): the layer's attention core is replaced by a loop over blocks of query rows that
 * computes each block's probabilities, its share of every statistic and its rows of P·V, so no [B,
 * H, T, T] tensor exists.
 */
public final class StatsInstrumenter {
  private static final String PREFIX = "hw/";

  private final GraphBuilder g;
  private final AttentionMap map;
  private final StatsConfig config;
  private final ProbeKind kind;
  private final List<Integer> windows;
  private final boolean causal;
  private final List<StatOutput> statOutputs = new ArrayList<>();
  private final List<String> importanceOutputs = new ArrayList<>();
  private final List<String> countOutputs = new ArrayList<>();
  private final List<String> probeInputs = new ArrayList<>();
  private final Set<String> outputNames = new HashSet<>();

  // shared tensors
  private String validF; // [B,T] float 1/0
  private String validB; // [B,T] bool
  private String posF; // [B,T] float valid position (cc - 1)
  private String tL; // scalar int64 T
  private String validCount; // [B] float
  private String repeatQ; // [B,T] float, repeat probes
  private String answerQ; // [B,T] float, passkey probes
  private RowStats.Globals globals;
  private RowStats untiled;

  /** Key block of the blockwise cumulative sum. */
  static final int CUMSUM_BLOCK = 16;

  private final int maxLength;
  private String triangle;

  private StatsInstrumenter(
      GraphBuilder g,
      AttentionMap map,
      StatsConfig config,
      ProbeKind kind,
      List<Integer> windows,
      int maxLength) {
    this.maxLength = maxLength;
    this.g = g;
    this.map = map;
    this.config = config;
    this.kind = kind;
    this.windows = windows;
    this.causal = map.blocks().get(0).causal();
  }

  /**
   * Instruments {@code model} for samples padded to at most {@code maxLength} tokens (windows above
   * it are dropped), untiled.
   */
  public static InstrumentedModel instrument(
      OnnxModel model, AttentionMap map, StatsConfig config, ProbeKind kind, int maxLength) {
    return instrument(model, map, config, kind, maxLength, 0, false);
  }

  /**
   * Instruments {@code model} for samples padded to at most {@code maxLength} tokens; {@code
   * queryBlock} rows per block of the query-tiled core (0, or not below {@code maxLength}:
   * untiled). Profiling passes {@code keepModelOutputs} false: the tiled graph then drops the
   * model's own outputs and so everything after the last attention core (its MLP and head), which
   * no statistic reads. {@code bench scale} keeps them, so that a one-layer model's statistics
   * graph does the work of a full forward pass, as every layer but the last does in a real-depth
   * model.
   */
  public static InstrumentedModel instrument(
      OnnxModel model,
      AttentionMap map,
      StatsConfig config,
      ProbeKind kind,
      int maxLength,
      int queryBlock,
      boolean keepModelOutputs) {
    map.requireAttention(model.source());
    if (queryBlock < 0) {
      throw new IllegalArgumentException("query block " + queryBlock);
    }
    boolean tiled = queryBlock > 0 && queryBlock < maxLength;
    Set<Integer> tiledLayers = tiled ? TiledCore.tileableLayers(model, map) : Set.of();
    ModelProto proto = FunctionInliner.inline(model.proto());
    GraphProto.Builder graph = proto.getGraph().toBuilder();
    GraphBuilder g = new GraphBuilder(graph, model.opset(), PREFIX);
    StatsInstrumenter s =
        new StatsInstrumenter(g, map, config, kind, config.windowsFor(maxLength), maxLength);
    s.build(
        ModelInputs.of(proto.getGraph()),
        tiledLayers,
        tiled ? TiledCore.keyMasks(model, map) : Map.of(),
        queryBlock);
    GraphProto out = graph.build();
    if (!tiledLayers.isEmpty()) {
      Set<String> keep = new HashSet<>(s.outputNames);
      if (keepModelOutputs) {
        proto.getGraph().getOutputList().forEach(o -> keep.add(o.getName()));
      }
      out = GraphCleanup.pruneAndSort(out, keep);
    }
    List<Integer> layers = tiledLayers.stream().sorted().toList();
    return new InstrumentedModel(
        proto.toBuilder().setGraph(out).build(),
        kind,
        s.windows,
        List.copyOf(s.statOutputs),
        List.copyOf(s.countOutputs),
        List.copyOf(s.importanceOutputs),
        List.copyOf(s.probeInputs),
        s.triangle == null ? 1 : CUMSUM_BLOCK,
        layers.isEmpty() ? 0 : queryBlock,
        layers);
  }

  private void build(
      ModelInputs inputs,
      Set<Integer> tiledLayers,
      Map<Integer, ScorePathCheck.KeyMask> keyMasks,
      int queryBlock) {
    Shared shared = shared(inputs);
    RowStats.RepeatRegion repeat = null;
    RowStats.Needle needle = null;
    if (kind == ProbeKind.REPEAT) {
      repeat = repeatGlobals();
    } else if (kind == ProbeKind.PASSKEY) {
      needle = passkeyGlobals();
    }
    globals =
        new RowStats.Globals(config, windows, causal, shared.fTable(), shared.tF(), repeat, needle);
    TiledCore tiles = null;
    for (AttentionBlock b : map.blocks()) {
      if (tiledLayers.contains(b.layer())) {
        if (tiles == null) {
          tiles = new TiledCore(g, globals, queryBlock, tL, validB, posF, validF, repeatQ, answerQ);
          tiles.keyMasks(keyMasks);
        }
        TiledCore.Result r = tiles.layer(b, normName(b.layer()));
        for (TiledCore.Sum sum : r.sums()) {
          stat(b.layer(), sum.stat(), sum.tensor(), sum.counts(), sum.denominator());
        }
        finishLayer(b, r.colsum());
      } else {
        untiledLayer(b);
      }
    }
  }

  /** The shared tensors {@link #shared} returns: the F table [B,T+1] and T as a float scalar. */
  private record Shared(String fTable, String tF) {}

  /** Builds the tensors all layers share. */
  private Shared shared(ModelInputs inputs) {
    String ids = inputs.inputIds();
    String idsShape = g.op("Shape", ids);
    String mask = inputs.maskOrOnes(g, () -> idsShape);
    validF = g.cast(mask, FLOAT);
    validB = g.cast(mask, BOOL);
    String cc = g.cumSum(validF, 1);
    posF = g.op("Sub", cc, g.constFloat(1f));
    tL = g.op("Gather", List.of(idsShape, g.constLong(1)), intAttr("axis", 0)); // scalar int64
    String tF = g.cast(tL, FLOAT);
    String tp1 = g.op("Add", tL, g.constLong(1));
    String kr = g.cast(g.op("Range", g.constLong(0), tp1, g.constLong(1)), FLOAT); // [T+1]
    String le = g.lessOrEqual(g.unsqueeze(cc, 1), g.unsqueeze(kr, 0, 2)); // [B,T+1,T]
    String fTable = g.reduceSum(g.cast(le, FLOAT), false, 2); // [B,T+1]
    validCount = g.reduceSum(validF, false, 1);
    output(validCount, InstrumentedModel.COUNT_VALID, "batch");
    countOutputs.add(InstrumentedModel.COUNT_VALID);
    return new Shared(fTable, tF);
  }

  private String normName(int layer) {
    return PREFIX + "L" + layer + "/output_norm";
  }

  private void untiledLayer(AttentionBlock b) {
    int l = b.layer();
    if (untiled == null) {
      untiled =
          new RowStats(
              g,
              globals,
              new RowStats.Rows(
                  posF,
                  validF,
                  repeatQ,
                  answerQ,
                  g.unsqueeze(posF, 1),
                  g.unsqueeze(validB, 1),
                  null));
    }
    String p = b.probabilitiesTensor();
    String v = b.valueTensor();
    String o = b.outputTensor();
    if (b.probabilitiesType() != FLOAT) {
      p = g.cast(p, FLOAT);
      if (config.streamDeviation()) {
        v = g.cast(v, FLOAT);
        o = g.cast(o, FLOAT);
      }
    }
    RowStats.KeyCumSum c = keyCumSum(p, g.op("Shape", p));
    String colsum =
        untiled.reduce(
            p, c, v, o, normName(l), (stat, sum, counts, den) -> stat(l, stat, sum, counts, den));
    finishLayer(b, colsum);
  }

  /** Output norms, token importance and heavy hitters of one layer from its column mass [B,H,T]. */
  private void finishLayer(AttentionBlock b, String colsum) {
    int l = b.layer();
    if (config.streamDeviation()) {
      String o = b.outputTensor();
      if (b.probabilitiesType() != FLOAT) {
        o = g.cast(o, FLOAT);
      }
      String oNorm =
          g.reduceSum(
              g.op("Mul", g.reduceSum(g.op("Mul", o, o), false, 3), g.unsqueeze(validF, 1)),
              false,
              2);
      output(oNorm, normName(l), "batch", "heads");
    }
    if (config.tokenImportance()) {
      String imp = g.reduceSum(colsum, false, 1); // [B,T]
      String name = PREFIX + "L" + l + "/importance";
      output(imp, name, "batch", "seq");
      importanceOutputs.add(name);
    }
    String shape = g.op("Shape", colsum);
    String kT = g.op("Slice", shape, g.constLongs(true, 2), g.constLongs(true, 3));
    String topValues = g.fresh("topk_values");
    g.op(
        "TopK",
        List.of(colsum, kT),
        List.of(topValues, g.fresh("topk_indices")),
        intAttr("axis", -1),
        intAttr("largest", 1),
        intAttr("sorted", 1));
    String csTop = g.cumSum(topValues, 2);
    String shapeBH1 =
        g.op(
            "Concat",
            List.of(
                g.op("Slice", shape, g.constLongs(true, 0), g.constLongs(true, 2)),
                g.constLongs(true, 1)),
            intAttr("axis", 0));
    for (int pct : config.heavyHitterPercents()) {
      String k = g.op("Ceil", g.op("Mul", validCount, g.constFloat(pct / 100f)));
      String kIdx = g.cast(g.max(g.op("Sub", k, g.constFloat(1f)), g.constFloat(0f)), INT64); // [B]
      String idx = g.op("Expand", g.unsqueeze(kIdx, 1, 2), shapeBH1);
      String top =
          g.squeeze(g.op("GatherElements", List.of(csTop, idx), intAttr("axis", 2)), 2); // [B,H]
      stat(l, StatNames.heavyHitterShare(pct), top, InstrumentedModel.COUNT_VALID, null);
    }
  }

  /**
   * Cumulative sum of P over keys, plain, or, when the graph is built for a length that is a
   * multiple of {@link #CUMSUM_BLOCK}, blockwise (prefix sums within each block of keys, exclusive
   * totals of the blocks before): a product with a small upper-triangular ones matrix plus a short
   * CumSum over blocks, which ONNX Runtime executes far faster than CumSum over a long axis; the
   * mass up to key r is then local[r] + offsets[r / block].
   */
  private RowStats.KeyCumSum keyCumSum(String p, String shape) {
    if (maxLength % CUMSUM_BLOCK != 0 || maxLength < 2 * CUMSUM_BLOCK) {
      return new RowStats.KeyCumSum(g.cumSum(p, 3), null);
    }
    int bs = CUMSUM_BLOCK;
    float[] upper = new float[bs * bs];
    for (int a = 0; a < bs; a++) {
      for (int b = a; b < bs; b++) {
        upper[a * bs + b] = 1f;
      }
    }
    if (triangle == null) {
      triangle = g.fresh("upper_ones");
      g.graph().addInitializer(Tensors.floats(triangle, new long[] {bs, bs}, upper));
    }
    String blocked =
        g.op(
            "Reshape",
            p,
            g.op(
                "Concat",
                List.of(
                    g.op("Slice", shape, g.constLongs(true, 0), g.constLongs(true, 3)),
                    g.constLongs(true, -1, bs)),
                intAttr("axis", 0))); // [B,H,T,nb,bs]
    String local = g.op("MatMul", blocked, triangle);
    String totals =
        g.op(
            "Slice",
            local,
            g.constLongs(true, bs - 1),
            g.constLongs(true, bs),
            g.constLongs(true, 4));
    String offsets =
        g.op("CumSum", List.of(totals, g.constLong(3)), intAttr("exclusive", 1)); // [B,H,T,nb,1]
    return new RowStats.KeyCumSum(g.op("Reshape", local, shape), g.squeeze(offsets, 4));
  }

  /** The repeated region; sets {@link #repeatQ} and the repeat count output. */
  private RowStats.RepeatRegion repeatGlobals() {
    String start = probeInput(InstrumentedModel.REPEAT_START);
    String period = g.max(probeInput(InstrumentedModel.REPEAT_PERIOD), g.constFloat(1f));
    String count = probeInput(InstrumentedModel.REPEAT_COUNT);
    String end = g.op("Add", start, g.op("Mul", count, period)); // [B,1]
    String queries =
        g.op(
            "And",
            validB,
            g.op("And", g.greaterOrEqual(posF, g.op("Add", start, period)), g.less(posF, end)));
    repeatQ = g.cast(queries, FLOAT);
    output(g.reduceSum(repeatQ, false, 1), InstrumentedModel.COUNT_REPEAT, "batch");
    countOutputs.add(InstrumentedModel.COUNT_REPEAT);
    return new RowStats.RepeatRegion(
        g.unsqueeze(start, 2), g.unsqueeze(period, 2), g.unsqueeze(end, 2));
  }

  /** The needle; sets {@link #answerQ} and the answer count output. */
  private RowStats.Needle passkeyGlobals() {
    String ns = g.unsqueeze(probeInput(InstrumentedModel.NEEDLE_START), 2);
    String ne = g.unsqueeze(probeInput(InstrumentedModel.NEEDLE_END), 2);
    String as = probeInput(InstrumentedModel.ANSWER_START);
    String ae = probeInput(InstrumentedModel.ANSWER_END);
    String queries = g.op("And", validB, g.op("And", g.greaterOrEqual(posF, as), g.less(posF, ae)));
    answerQ = g.cast(queries, FLOAT);
    output(g.reduceSum(answerQ, false, 1), InstrumentedModel.COUNT_ANSWER, "batch");
    countOutputs.add(InstrumentedModel.COUNT_ANSWER);
    return new RowStats.Needle(ns, ne);
  }

  /** Declares a [B] int64 probe input and returns it as a [B,1] float tensor. */
  private String probeInput(String name) {
    g.addInput(name, INT64, "batch");
    probeInputs.add(name);
    return g.unsqueeze(g.cast(name, FLOAT), 1);
  }

  private void stat(int layer, String stat, String tensor, String counts, String denominator) {
    String name = PREFIX + "L" + layer + "/" + stat;
    output(tensor, name, "batch", "heads");
    statOutputs.add(new StatOutput(layer, stat, name, counts, denominator));
  }

  private void output(String tensor, String name, String... dims) {
    g.identity(tensor, name);
    g.addOutput(name, FLOAT, dims);
    outputNames.add(name);
  }
}
