package io.headwise.profilers;

import static io.headwise.graph.GraphBuilder.BOOL;
import static io.headwise.graph.GraphBuilder.FLOAT;
import static io.headwise.graph.GraphBuilder.INT64;
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
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Appends per-head statistic subgraphs after each attention block's probabilities so that ONNX Runtime (the GPU under
 * CUDA EP) reduces [B, H, T, T] to [B, H] sums and [B] counts.
 *
 * <p>How: positions are counted over valid tokens only (p = cumsum(mask) − 1). With C the cumulative sum of P over
 * keys, the mass a query puts on keys of valid position ≤ q is M(q) = C[i, F(q+1) − 1], where F(k) = #{j : cc_j ≤ k}
 * is a [B, T+1] table shared by all layers (padded keys carry zero probability, so a prefix in raw key order is a
 * prefix in valid positions). Sink, local and coverage masses are differences of M at a few q per query — gathers,
 * not T×T masks. Entropy, column mass (heavy hitters, token importance) and stream deviation need one pass over P
 * each; echo, induction and needle masses use T×T position masks built once per batch. Everything is fp32 in the
 * graph; the Java side accumulates the sums in double.
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

  // shared tensors
  private String validF;       // [B,T] float 1/0
  private String validB;       // [B,T] bool
  private String posF;         // [B,T] float valid position (cc - 1)
  private String tF;           // scalar float T
  private String fTable;       // [B,T+1] float
  private String qmask3;       // [B,1,T]
  private String qmaskRow;     // [B,1,1,T]
  private String validCount;   // [B] float
  private String dist;         // [B,T,T] float p_i - p_j
  private String posJ;         // [B,1,T]
  private String validJ;       // [B,1,T] bool
  private final Map<String, String[]> gatherIndex = new HashMap<>(); // qkey -> {idx4 [B,1,T,1] int64, nonzero [B,1,T]}
  private final Map<String, String> streamMasks = new HashMap<>();
  /** Key block of the blockwise cumulative sum. */
  static final int CUMSUM_BLOCK = 16;
  private final int maxLength;
  private String triangle;

  private StatsInstrumenter(GraphBuilder g, AttentionMap map, StatsConfig config, ProbeKind kind,
      List<Integer> windows, int maxLength) {
    this.maxLength = maxLength;
    this.g = g;
    this.map = map;
    this.config = config;
    this.kind = kind;
    this.windows = windows;
    this.causal = map.blocks().get(0).causal();
  }

  /**
   * Instruments {@code model} for samples padded to at most {@code maxLength} tokens (windows above it are dropped).
   */
  public static InstrumentedModel instrument(OnnxModel model, AttentionMap map, StatsConfig config, ProbeKind kind,
      int maxLength) {
    map.requireAttention(model.source());
    ModelProto proto = FunctionInliner.inline(model.proto());
    GraphProto.Builder graph = proto.getGraph().toBuilder();
    GraphBuilder g = new GraphBuilder(graph, model.opset(), PREFIX);
    StatsInstrumenter s = new StatsInstrumenter(g, map, config, kind, config.windowsFor(maxLength), maxLength);
    s.build(ModelInputs.of(proto.getGraph()));
    ModelProto out = proto.toBuilder().setGraph(graph).build();
    return new InstrumentedModel(out, kind, s.windows, List.copyOf(s.statOutputs), List.copyOf(s.countOutputs),
        List.copyOf(s.importanceOutputs), List.copyOf(s.probeInputs), s.triangle == null ? 1 : CUMSUM_BLOCK);
  }

  private void build(ModelInputs inputs) {
    shared(inputs);
    String repeatQ = null;
    String echoMask = null;
    String inductionMask = null;
    String answerQ = null;
    String needleMask = null;
    if (kind == ProbeKind.REPEAT) {
      String[] r = repeatMasks();
      repeatQ = r[0];
      echoMask = r[1];
      inductionMask = r[2];
    } else if (kind == ProbeKind.PASSKEY) {
      String[] r = passkeyMasks();
      answerQ = r[0];
      needleMask = r[1];
    }
    for (AttentionBlock b : map.blocks()) {
      layer(b, repeatQ, echoMask, inductionMask, answerQ, needleMask);
    }
  }

  private void shared(ModelInputs inputs) {
    String ids = inputs.inputIds();
    String idsShape = g.op("Shape", ids);
    String mask;
    if (inputs.attentionMask().isPresent()) {
      mask = inputs.attentionMask().get();
    } else {
      mask = g.op("ConstantOfShape", List.of(idsShape),
          GraphBuilder.tensorAttr("value", Tensors.longVector("one", 1)));
    }
    validF = g.cast(mask, FLOAT);
    validB = g.cast(mask, BOOL);
    String cc = g.cumSum(validF, 1);
    posF = g.op("Sub", cc, g.constFloat(1f));
    String tL = g.op("Gather", List.of(idsShape, g.constLong(1)), intAttr("axis", 0)); // scalar int64
    tF = g.cast(tL, FLOAT);
    String tp1 = g.op("Add", tL, g.constLong(1));
    String kr = g.cast(g.op("Range", g.constLong(0), tp1, g.constLong(1)), FLOAT); // [T+1]
    String le = g.lessOrEqual(g.unsqueeze(cc, 1), g.unsqueeze(kr, 0, 2)); // [B,T+1,T]
    fTable = g.reduceSum(g.cast(le, FLOAT), false, 2); // [B,T+1]
    qmask3 = g.unsqueeze(validF, 1);
    qmaskRow = g.unsqueeze(validF, 1, 2);
    validCount = g.reduceSum(validF, false, 1);
    output(validCount, InstrumentedModel.COUNT_VALID, "batch");
    countOutputs.add(InstrumentedModel.COUNT_VALID);
    posJ = g.unsqueeze(posF, 1);
    validJ = g.unsqueeze(validB, 1);
    if (config.streamDeviation() || kind != ProbeKind.PLAIN) {
      dist = g.op("Sub", g.unsqueeze(posF, 2), posJ); // [B,T,T]
    }
  }

  /** Gather indices for M(q) with q given per query as [B,T] float; cached by key. */
  private String[] gatherFor(String key, String qv) {
    return gatherIndex.computeIfAbsent(key, k -> {
      String q1 = g.max(g.min(g.op("Add", qv, g.constFloat(1f)), tF), g.constFloat(0f));
      String count = g.op("GatherElements", List.of(fTable, g.cast(q1, INT64)), intAttr("axis", 1)); // [B,T]
      String ci = g.cast(g.max(g.op("Sub", count, g.constFloat(1f)), g.constFloat(0f)), INT64);
      String idx4 = g.unsqueeze(ci, 1, 3); // [B,1,T,1]
      String nonzero = g.unsqueeze(g.cast(g.op("Greater", count, g.constFloat(0f)), FLOAT), 1); // [B,1,T]
      return new String[] {idx4, nonzero};
    });
  }

  private String constQ(float v) {
    return g.op("Add", g.op("Mul", posF, g.constFloat(0f)), g.constFloat(v));
  }

  private String posPlus(float delta) {
    return g.op("Add", posF, g.constFloat(delta));
  }

  /** M(q) for one layer: [B,H,T]. */
  private String massUpTo(String[] cumsum, String shape4, String key, String qv) {
    String[] gi = gatherFor(key, qv);
    String idx = g.op("Expand", gi[0], shape4);
    String gathered = g.op("GatherElements", List.of(cumsum[0], idx), intAttr("axis", 3));
    if (cumsum[1] != null) {
      // blockwise: prefix within the key's block plus the total of the blocks before it
      String block = g.op("Div", idx, g.constLong(CUMSUM_BLOCK));
      gathered = g.op("Add", gathered, g.op("GatherElements", List.of(cumsum[1], block), intAttr("axis", 3)));
    }
    return g.op("Mul", g.squeeze(gathered, 3), gi[1]);
  }

  private String sumQueries(String perQuery, String qmask) {
    return g.reduceSum(g.op("Mul", perQuery, qmask), false, 2);
  }

  private void layer(AttentionBlock b, String repeatQ, String echoMask, String inductionMask, String answerQ,
      String needleMask) {
    int l = b.layer();
    String p = b.probabilitiesTensor();
    if (b.probabilitiesElemType() != FLOAT) {
      p = g.cast(p, FLOAT);
    }
    String shape = g.op("Shape", p);
    String shape3 = g.op("Slice", shape, g.constLongs(true, 0), g.constLongs(true, 3));
    String shape4 = g.op("Concat", List.of(shape3, g.constLongs(true, 1)), intAttr("axis", 0)); // [B,H,T,1]
    String[] c = keyCumSum(p, shape);

    // entropy
    // p·ln(p + 1e-30): exactly 0 where p = 0, and within 1e-30 of p·ln p elsewhere (no Where/Greater passes)
    String plogp = g.op("Mul", p, g.op("Log", g.op("Add", p, g.constFloat(1e-30f))));
    String ent = g.op("Neg", g.reduceSum(plogp, false, 3));
    stat(l, StatNames.ENTROPY_MEAN, sumQueries(ent, qmask3), InstrumentedModel.COUNT_VALID, null);

    // sinks
    for (int s : config.sinks()) {
      String m = massUpTo(c, shape4, "c" + (s - 1), constQ(s - 1));
      stat(l, StatNames.sinkMass(s), sumQueries(m, qmask3), InstrumentedModel.COUNT_VALID, null);
    }
    // local windows and coverage
    String hiKeyCausal = "pos";
    for (int w : windows) {
      String lo = massUpTo(c, shape4, "pos-" + w, posPlus(-w));
      String hi = causal ? massUpTo(c, shape4, hiKeyCausal, posF)
          : massUpTo(c, shape4, "pos+" + (w - 1), posPlus(w - 1));
      String local = g.op("Sub", hi, lo);
      stat(l, StatNames.localMass(w), sumQueries(local, qmask3), InstrumentedModel.COUNT_VALID, null);
      for (int sS : config.streamSinks()) {
        String sinkPart = massUpTo(c, shape4, "c" + (sS - 1), constQ(sS - 1));
        String hiQ = causal ? posF : posPlus(w - 1);
        String hiKey = causal ? "pos" : "pos+" + (w - 1);
        String hiC = massUpTo(c, shape4, "max(" + hiKey + ",c" + (sS - 1) + ")", g.max(hiQ,
            g.constFloat(sS - 1)));
        String loC = massUpTo(c, shape4, "max(pos-" + w + ",c" + (sS - 1) + ")", g.max(posPlus(-w),
            g.constFloat(sS - 1)));
        String cov = g.op("Add", sinkPart, g.op("Sub", hiC, loC));
        stat(l, StatNames.coverage(sS, w), sumQueries(cov, qmask3), InstrumentedModel.COUNT_VALID, null);
      }
    }

    // column mass: heavy hitters and token importance
    // Σ_i over valid queries as one batched matrix-vector product: [B,1,1,T] × [B,H,T,T] → [B,H,1,T]
    String colsum = g.squeeze(g.op("MatMul", qmaskRow, p), 2); // [B,H,T]
    if (config.tokenImportance()) {
      String imp = g.reduceSum(colsum, false, 1); // [B,T]
      String name = PREFIX + "L" + l + "/importance";
      output(imp, name, "batch", "seq");
      importanceOutputs.add(name);
    }
    String kT = g.op("Slice", shape, g.constLongs(true, 3), g.constLongs(true, 4));
    String[] topk = {g.fresh("topk_values"), g.fresh("topk_indices")};
    g.op("TopK", List.of(colsum, kT), List.of(topk), intAttr("axis", -1), intAttr("largest", 1),
        intAttr("sorted", 1));
    String csTop = g.cumSum(topk[0], 2);
    String shapeBH1 = g.op("Concat", List.of(g.op("Slice", shape, g.constLongs(true, 0), g.constLongs(true, 2)),
        g.constLongs(true, 1)), intAttr("axis", 0));
    for (int pct : config.heavyHitterPercents()) {
      String k = g.op("Ceil", g.op("Mul", validCount, g.constFloat(pct / 100f)));
      String kIdx = g.cast(g.max(g.op("Sub", k, g.constFloat(1f)), g.constFloat(0f)), INT64); // [B]
      String idx = g.op("Expand", g.unsqueeze(kIdx, 1, 2), shapeBH1);
      String top = g.squeeze(g.op("GatherElements", List.of(csTop, idx), intAttr("axis", 2)), 2); // [B,H]
      stat(l, StatNames.heavyHitterShare(pct), top, InstrumentedModel.COUNT_VALID, null);
    }

    // stream deviation
    if (config.streamDeviation()) {
      String v = b.valueTensor();
      String o = b.outputTensor();
      if (b.probabilitiesElemType() != FLOAT) {
        v = g.cast(v, FLOAT);
        o = g.cast(o, FLOAT);
      }
      // V with a column of ones: one product gives both the kept numerator Σ_K P v and the kept mass Σ_K P
      String vShape = g.op("Shape", v);
      String ones = g.op("ConstantOfShape", List.of(g.op("Concat", List.of(g.op("Slice", vShape,
          g.constLongs(true, 0), g.constLongs(true, 3)), g.constLongs(true, 1)), intAttr("axis", 0))),
          GraphBuilder.tensorAttr("value", Tensors.floats("one", new long[] {1}, 1f)));
      String vOnes = g.op("Concat", List.of(v, ones), intAttr("axis", -1));
      String headDim = g.op("Slice", vShape, g.constLongs(true, 3), g.constLongs(true, 4));
      String normName = PREFIX + "L" + l + "/output_norm";
      String oNorm = sumQueries(g.reduceSum(g.op("Mul", o, o), false, 3), qmask3);
      output(oNorm, normName, "batch", "heads");
      for (int sS : config.streamSinks()) {
        for (int w : windows) {
          String keep = streamMask(sS, w); // [B,1,T,T] float 0/1
          String pk = g.op("Mul", p, keep);
          String okc = g.op("MatMul", pk, vOnes); // [B,H,T,D+1]
          String ok = g.op("Slice", okc, g.constLongs(true, 0), headDim, g.constLongs(true, -1));
          // the kept mass is summed directly (not taken from the cumulative-sum coverage, whose absolute error
          // of ~1e-7 would dominate the renormalisation of queries that keep almost no mass)
          String cov = g.max(g.op("Slice", okc, headDim, g.constLongs(true, Long.MAX_VALUE),
              g.constLongs(true, -1)), g.constFloat(1e-30f));
          String diff = g.op("Sub", g.op("Div", ok, cov), o);
          String dev = g.reduceSum(g.op("Mul", diff, diff), false, 3); // [B,H,T]
          stat(l, StatNames.streamDeviation(sS, w), sumQueries(dev, qmask3), InstrumentedModel.COUNT_VALID,
              normName);
        }
      }
    }

    if (echoMask != null) {
      String echo = g.reduceSum(g.op("Mul", p, echoMask), false, 3);
      stat(l, StatNames.ECHO_SCORE, sumQueries(echo, repeatQ), InstrumentedModel.COUNT_REPEAT, null);
      String ind = g.reduceSum(g.op("Mul", p, inductionMask), false, 3);
      stat(l, StatNames.INDUCTION_SCORE, sumQueries(ind, repeatQ), InstrumentedModel.COUNT_REPEAT, null);
    }
    if (needleMask != null) {
      String needle = g.reduceSum(g.op("Mul", p, needleMask), false, 3);
      stat(l, StatNames.NEEDLE_MASS, sumQueries(needle, answerQ), InstrumentedModel.COUNT_ANSWER, null);
    }
  }

  /**
   * Cumulative sum of P over keys, as {C, null}, or, when the graph is built for a length that is a multiple of
   * {@link #CUMSUM_BLOCK}, blockwise as {prefix sums within each block of keys, exclusive totals of the blocks before}:
   * a product with a small upper-triangular ones matrix plus a short CumSum over blocks, which ONNX Runtime executes
   * far faster than CumSum over a long axis; the mass up to key r is then local[r] + offsets[r / block].
   */
  private String[] keyCumSum(String p, String shape) {
    if (maxLength % CUMSUM_BLOCK != 0 || maxLength < 2 * CUMSUM_BLOCK) {
      return new String[] {g.cumSum(p, 3), null};
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
    String blocked = g.op("Reshape", p, g.op("Concat", List.of(g.op("Slice", shape, g.constLongs(true, 0),
        g.constLongs(true, 3)), g.constLongs(true, -1, bs)), intAttr("axis", 0))); // [B,H,T,nb,bs]
    String local = g.op("MatMul", blocked, triangle);
    String totals = g.op("Slice", local, g.constLongs(true, bs - 1), g.constLongs(true, bs), g.constLongs(true, 4));
    String offsets = g.op("CumSum", List.of(totals, g.constLong(3)), intAttr("exclusive", 1)); // [B,H,T,nb,1]
    // {within-block prefix sums as [B,H,T,T], exclusive block offsets as [B,H,T,nb]}
    return new String[] {g.op("Reshape", local, shape), g.squeeze(offsets, 4)};
  }

  /** K = valid keys in {first S} ∪ band w, as [B,1,T,T] bool; built once per (S, w). */
  private String streamMask(int sinks, int w) {
    return streamMasks.computeIfAbsent(sinks + ":" + w, k -> {
      String band = causal
          ? g.op("And", g.greaterOrEqual(dist, g.constFloat(0f)), g.less(dist, g.constFloat(w)))
          : g.less(g.op("Abs", dist), g.constFloat(w));
      String sink = g.less(posJ, g.constFloat(sinks));
      String keep = g.op("And", validJ, g.op("Or", sink, band));
      return g.cast(g.unsqueeze(keep, 1), FLOAT);
    });
  }

  /** {query mask [B,1,T], echo key mask [B,1,T,T], induction key mask [B,1,T,T]} for repeat probes. */
  private String[] repeatMasks() {
    String start = probeInput(InstrumentedModel.REPEAT_START);
    String period = g.max(probeInput(InstrumentedModel.REPEAT_PERIOD), g.constFloat(1f));
    String count = probeInput(InstrumentedModel.REPEAT_COUNT);
    String end = g.op("Add", start, g.op("Mul", count, period)); // [B,1]
    String queries = g.op("And", validB, g.op("And", g.greaterOrEqual(posF, g.op("Add", start, period)),
        g.less(posF, end)));
    String queriesF = g.cast(queries, FLOAT);
    output(g.reduceSum(queriesF, false, 1), InstrumentedModel.COUNT_REPEAT, "batch");
    countOutputs.add(InstrumentedModel.COUNT_REPEAT);
    String period3 = g.unsqueeze(period, 2); // [B,1,1]
    String start3 = g.unsqueeze(start, 2);
    String end3 = g.unsqueeze(end, 2);
    String keyInRegion = g.op("And", validJ, g.less(posJ, end3));
    String zero = g.constFloat(0f);
    String echo = g.op("And", g.op("And", keyInRegion, g.greaterOrEqual(posJ, start3)),
        g.op("And", g.op("Greater", dist, zero),
            g.op("Equal", g.op("Mod", List.of(dist, period3), intAttr("fmod", 1)), zero)));
    String d1 = g.op("Add", dist, g.constFloat(1f));
    String induction = g.op("And", g.op("And", keyInRegion, g.greaterOrEqual(posJ, g.op("Add", start3,
        g.constFloat(1f)))), g.op("And", g.greaterOrEqual(d1, period3),
        g.op("Equal", g.op("Mod", List.of(d1, period3), intAttr("fmod", 1)), zero)));
    return new String[] {g.unsqueeze(queriesF, 1), g.cast(g.unsqueeze(echo, 1), FLOAT),
        g.cast(g.unsqueeze(induction, 1), FLOAT)};
  }

  /** {answer query mask [B,1,T], needle key mask [B,1,T,T]} for passkey probes. */
  private String[] passkeyMasks() {
    String ns = g.unsqueeze(probeInput(InstrumentedModel.NEEDLE_START), 2);
    String ne = g.unsqueeze(probeInput(InstrumentedModel.NEEDLE_END), 2);
    String as = probeInput(InstrumentedModel.ANSWER_START);
    String ae = probeInput(InstrumentedModel.ANSWER_END);
    String queries = g.op("And", validB, g.op("And", g.greaterOrEqual(posF, as), g.less(posF, ae)));
    String queriesF = g.cast(queries, FLOAT);
    output(g.reduceSum(queriesF, false, 1), InstrumentedModel.COUNT_ANSWER, "batch");
    countOutputs.add(InstrumentedModel.COUNT_ANSWER);
    String keys = g.op("And", validJ, g.op("And", g.greaterOrEqual(posJ, ns), g.less(posJ, ne))); // [B,1,T]
    String keys4 = g.unsqueeze(keys, 1); // [B,1,1,T]
    return new String[] {g.unsqueeze(queriesF, 1), g.cast(keys4, FLOAT)};
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
  }
}
