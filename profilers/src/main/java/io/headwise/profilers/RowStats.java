package io.headwise.profilers;

import static io.headwise.graph.ElementType.FLOAT;
import static io.headwise.graph.ElementType.INT64;
import static io.headwise.graph.GraphBuilder.intAttr;

import io.headwise.graph.GraphBuilder;
import io.headwise.graph.Tensors;
import io.headwise.schemas.StatNames;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The per-head statistic sums of one attention layer over a rectangle of its probabilities, P [B,
 * H, R, K]: R query rows against the first K keys. The untiled route calls it once per layer with R
 * = K = T; the query-tiled core ({@link TiledCore}) calls it inside its loop body for each block of
 * query rows, with K = T for bidirectional cores and K = the block's last query + 1 for causal ones
 * (a causal query puts no mass beyond its own key, so every prefix mass gathered at a key index ≥ K
 * equals the one at K − 1, which is where indices are clamped).
 *
 * <p>Gather indices and stream/echo/induction/needle masks are built once per scope and shared by
 * every layer that uses this instance (per batch in the untiled graph, per block in a loop body).
 */
final class RowStats {
  /** Receives each [B, H] sum over this rectangle's counted queries. */
  interface Sink {
    void stat(String stat, String sumBH, String counts, String denominator);
  }

  /**
   * Graph-wide tensors (outer scope of any loop body).
   *
   * @param fTable [B, T+1]: F(k) = #{j : cc_j ≤ k}
   * @param tF scalar float T
   * @param repeat the repeated region (repeat probes), else null
   * @param needle the needle (passkey probes), else null
   */
  record Globals(
      StatsConfig config,
      List<Integer> windows,
      boolean causal,
      String fTable,
      String tF,
      RepeatRegion repeat,
      Needle needle) {}

  /** A repeat probe's region: start, period and end positions, each [B, 1, 1] float. */
  record RepeatRegion(String start, String period, String end) {}

  /** A passkey probe's needle: start and end positions, each [B, 1, 1] float. */
  record Needle(String start, String end) {}

  /**
   * The cumulative sum of P over keys: plain ({@code offsets} null), or blockwise (see
   * StatsInstrumenter#keyCumSum) with the prefix sums within each block of keys as [B,H,T,T] and
   * the exclusive totals of the blocks before as [B,H,T,nb]; the mass up to key r is then cumsum[r]
   * + offsets[r / block].
   */
  record KeyCumSum(String cumsum, String offsets) {}

  /**
   * Gather indices of M(q): the key index as [B,1,R,1] int64, and 1 where any key counts [B,1,R].
   */
  private record GatherIndex(String index, String nonzero) {}

  /** The echo and induction key masks, each [B,1,R,K] float. */
  private record RepeatKeyMasks(String echo, String induction) {}

  /**
   * The rows and keys of one rectangle.
   *
   * @param posQ [B, R] float valid position of each query row
   * @param qmask [B, R] float 1 for counted (valid) query rows
   * @param repeatQ [B, R] float 1 for echo/induction queries, or null
   * @param answerQ [B, R] float 1 for passkey answer queries, or null
   * @param posJ [B, 1, K] float valid position of each key
   * @param validJ [B, 1, K] bool
   * @param keyLast float scalar K − 1 where gather indices are clamped (causal tiles), or null
   */
  record Rows(
      String posQ,
      String qmask,
      String repeatQ,
      String answerQ,
      String posJ,
      String validJ,
      String keyLast) {}

  private final GraphBuilder g;
  private final Globals globals;
  private final Rows rows;
  private final String qmask3;
  private final Map<String, GatherIndex> gatherIndex = new HashMap<>();
  private final Map<String, String> keyMasks = new HashMap<>();
  private String dist;

  RowStats(GraphBuilder g, Globals globals, Rows rows) {
    this.g = g;
    this.globals = globals;
    this.rows = rows;
    this.qmask3 = g.unsqueeze(rows.qmask(), 1);
  }

  /**
   * Emits every statistic of one layer except heavy hitters and token importance (which need the
   * column mass summed over all query rows) and returns that column mass, Σ over counted rows of P,
   * as [B, H, K].
   *
   * @param cumsum the cumulative sum over keys; null to compute a plain one here
   * @param v V [B, H or Hkv, K, D] as float, needed when stream deviation is on
   * @param o P·V [B, H, R, D] as float
   */
  String reduce(String p, KeyCumSum cumsum, String v, String o, String normName, Sink sink) {
    StatsConfig config = globals.config();
    String shape = g.op("Shape", p);
    String shape3 = g.op("Slice", shape, g.constLongs(true, 0), g.constLongs(true, 3));
    String shape4 =
        g.op("Concat", List.of(shape3, g.constLongs(true, 1)), intAttr("axis", 0)); // [B,H,R,1]
    KeyCumSum c = cumsum != null ? cumsum : new KeyCumSum(g.cumSum(p, 3), null);
    String count = InstrumentedModel.COUNT_VALID;

    // p·ln(p + 1e-30): exactly 0 where p = 0, and within 1e-30 of p·ln p elsewhere (no
    // Where/Greater passes)
    String plogp = g.op("Mul", p, g.op("Log", g.op("Add", p, g.constFloat(1e-30f))));
    sink.stat(
        StatNames.ENTROPY_MEAN,
        sumQueries(g.op("Neg", g.reduceSum(plogp, false, 3)), qmask3),
        count,
        null);

    for (int s : config.sinks()) {
      String m = massUpTo(c, shape4, "c" + (s - 1), constQ(s - 1));
      sink.stat(StatNames.sinkMass(s), sumQueries(m, qmask3), count, null);
    }
    boolean causal = globals.causal();
    for (int w : globals.windows()) {
      String lo = massUpTo(c, shape4, "pos-" + w, posPlus(-w));
      String hi =
          causal
              ? massUpTo(c, shape4, "pos", rows.posQ())
              : massUpTo(c, shape4, "pos+" + (w - 1), posPlus(w - 1));
      sink.stat(StatNames.localMass(w), sumQueries(g.op("Sub", hi, lo), qmask3), count, null);
      for (int sS : config.streamSinks()) {
        String sinkPart = massUpTo(c, shape4, "c" + (sS - 1), constQ(sS - 1));
        String hiQ = causal ? rows.posQ() : posPlus(w - 1);
        String hiKey = causal ? "pos" : "pos+" + (w - 1);
        String hiC =
            massUpTo(
                c,
                shape4,
                "max(" + hiKey + ",c" + (sS - 1) + ")",
                g.max(hiQ, g.constFloat(sS - 1)));
        String loC =
            massUpTo(
                c,
                shape4,
                "max(pos-" + w + ",c" + (sS - 1) + ")",
                g.max(posPlus(-w), g.constFloat(sS - 1)));
        String cov = g.op("Add", sinkPart, g.op("Sub", hiC, loC));
        sink.stat(StatNames.coverage(sS, w), sumQueries(cov, qmask3), count, null);
      }
    }

    // Σ_i over counted queries as one batched matrix-vector product: [B,1,1,R] × [B,H,R,K] →
    // [B,H,1,K]
    String colsum = g.squeeze(g.op("MatMul", g.unsqueeze(rows.qmask(), 1, 2), p), 2);

    if (config.streamDeviation()) {
      streamDeviation(p, v, o, normName, sink);
    }
    if (globals.repeat() != null) {
      String repeatQ = g.unsqueeze(rows.repeatQ(), 1);
      RepeatKeyMasks m = repeatKeyMasks();
      sink.stat(
          StatNames.ECHO_SCORE,
          sumQueries(g.reduceSum(g.op("Mul", p, m.echo()), false, 3), repeatQ),
          InstrumentedModel.COUNT_REPEAT,
          null);
      sink.stat(
          StatNames.INDUCTION_SCORE,
          sumQueries(g.reduceSum(g.op("Mul", p, m.induction()), false, 3), repeatQ),
          InstrumentedModel.COUNT_REPEAT,
          null);
    }
    if (globals.needle() != null) {
      String answerQ = g.unsqueeze(rows.answerQ(), 1);
      sink.stat(
          StatNames.NEEDLE_MASS,
          sumQueries(g.reduceSum(g.op("Mul", p, needleKeyMask()), false, 3), answerQ),
          InstrumentedModel.COUNT_ANSWER,
          null);
    }
    return colsum;
  }

  private void streamDeviation(String p, String v, String o, String normName, Sink sink) {
    // V with a column of ones: one product gives both the kept numerator Σ_K P v and the kept mass
    // Σ_K P
    String vShape = g.op("Shape", v);
    String ones =
        g.op(
            "ConstantOfShape",
            List.of(
                g.op(
                    "Concat",
                    List.of(
                        g.op("Slice", vShape, g.constLongs(true, 0), g.constLongs(true, 3)),
                        g.constLongs(true, 1)),
                    intAttr("axis", 0))),
            GraphBuilder.tensorAttr("value", Tensors.floats("one", new long[] {1}, 1f)));
    String vOnes = g.op("Concat", List.of(v, ones), intAttr("axis", -1));
    String headDim = g.op("Slice", vShape, g.constLongs(true, 3), g.constLongs(true, 4));
    for (int sS : globals.config().streamSinks()) {
      for (int w : globals.windows()) {
        String pk = g.op("Mul", p, streamMask(sS, w));
        String okc = g.op("MatMul", pk, vOnes); // [B,H,R,D+1]
        String ok = g.op("Slice", okc, g.constLongs(true, 0), headDim, g.constLongs(true, -1));
        // the kept mass is summed directly (not taken from the cumulative-sum coverage, whose
        // absolute error
        // of ~1e-7 would dominate the renormalisation of queries that keep almost no mass)
        String cov =
            g.max(
                g.op(
                    "Slice",
                    okc,
                    headDim,
                    g.constLongs(true, Long.MAX_VALUE),
                    g.constLongs(true, -1)),
                g.constFloat(1e-30f));
        String diff = g.op("Sub", g.op("Div", ok, cov), o);
        String dev = g.reduceSum(g.op("Mul", diff, diff), false, 3); // [B,H,R]
        sink.stat(
            StatNames.streamDeviation(sS, w),
            sumQueries(dev, qmask3),
            InstrumentedModel.COUNT_VALID,
            normName);
      }
    }
  }

  /** Gather indices for M(q) with q given per query row as [B,R] float; cached by key. */
  private GatherIndex gatherFor(String key, String qv) {
    return gatherIndex.computeIfAbsent(
        key,
        k -> {
          String q1 =
              g.max(g.min(g.op("Add", qv, g.constFloat(1f)), globals.tF()), g.constFloat(0f));
          String count =
              g.op(
                  "GatherElements",
                  List.of(globals.fTable(), g.cast(q1, INT64)),
                  intAttr("axis", 1));
          String cf = g.max(g.op("Sub", count, g.constFloat(1f)), g.constFloat(0f));
          if (rows.keyLast() != null) {
            cf = g.min(cf, rows.keyLast());
          }
          String idx4 = g.unsqueeze(g.cast(cf, INT64), 1, 3); // [B,1,R,1]
          String nonzero =
              g.unsqueeze(g.cast(g.op("Greater", count, g.constFloat(0f)), FLOAT), 1); // [B,1,R]
          return new GatherIndex(idx4, nonzero);
        });
  }

  private String constQ(float v) {
    return g.op("Add", g.op("Mul", rows.posQ(), g.constFloat(0f)), g.constFloat(v));
  }

  private String posPlus(float delta) {
    return g.op("Add", rows.posQ(), g.constFloat(delta));
  }

  /** M(q) for one layer: [B,H,R]. */
  private String massUpTo(KeyCumSum cumsum, String shape4, String key, String qv) {
    GatherIndex gi = gatherFor(key, qv);
    String idx = g.op("Expand", gi.index(), shape4);
    String gathered = g.op("GatherElements", List.of(cumsum.cumsum(), idx), intAttr("axis", 3));
    if (cumsum.offsets() != null) {
      // blockwise: prefix within the key's block plus the total of the blocks before it
      String block = g.op("Div", idx, g.constLong(StatsInstrumenter.CUMSUM_BLOCK));
      gathered =
          g.op(
              "Add",
              gathered,
              g.op("GatherElements", List.of(cumsum.offsets(), block), intAttr("axis", 3)));
    }
    return g.op("Mul", g.squeeze(gathered, 3), gi.nonzero());
  }

  private String sumQueries(String perQuery, String qmask) {
    return g.reduceSum(g.op("Mul", perQuery, qmask), false, 2);
  }

  /** p_i − p_j as [B,R,K]. */
  private String dist() {
    if (dist == null) {
      dist = g.op("Sub", g.unsqueeze(rows.posQ(), 2), rows.posJ());
    }
    return dist;
  }

  /** K = valid keys in {first S} ∪ band w, as [B,1,R,K] float; built once per (S, w). */
  private String streamMask(int sinks, int w) {
    return keyMasks.computeIfAbsent(
        "stream" + sinks + ":" + w,
        k -> {
          String d = dist();
          String band =
              globals.causal()
                  ? g.op("And", g.greaterOrEqual(d, g.constFloat(0f)), g.less(d, g.constFloat(w)))
                  : g.less(g.op("Abs", d), g.constFloat(w));
          String sink = g.less(rows.posJ(), g.constFloat(sinks));
          String keep = g.op("And", rows.validJ(), g.op("Or", sink, band));
          return g.cast(g.unsqueeze(keep, 1), FLOAT);
        });
  }

  private RepeatKeyMasks repeatKeyMasks() {
    String echo =
        keyMasks.computeIfAbsent(
            "echo",
            k -> {
              RepeatRegion r = globals.repeat();
              String d = dist();
              String zero = g.constFloat(0f);
              String keyInRegion = g.op("And", rows.validJ(), g.less(rows.posJ(), r.end()));
              String m =
                  g.op(
                      "And",
                      g.op("And", keyInRegion, g.greaterOrEqual(rows.posJ(), r.start())),
                      g.op(
                          "And",
                          g.op("Greater", d, zero),
                          g.op(
                              "Equal",
                              g.op("Mod", List.of(d, r.period()), intAttr("fmod", 1)),
                              zero)));
              return g.cast(g.unsqueeze(m, 1), FLOAT);
            });
    String induction =
        keyMasks.computeIfAbsent(
            "induction",
            k -> {
              RepeatRegion r = globals.repeat();
              String zero = g.constFloat(0f);
              String keyInRegion = g.op("And", rows.validJ(), g.less(rows.posJ(), r.end()));
              String d1 = g.op("Add", dist(), g.constFloat(1f));
              String m =
                  g.op(
                      "And",
                      g.op(
                          "And",
                          keyInRegion,
                          g.greaterOrEqual(rows.posJ(), g.op("Add", r.start(), g.constFloat(1f)))),
                      g.op(
                          "And",
                          g.greaterOrEqual(d1, r.period()),
                          g.op(
                              "Equal",
                              g.op("Mod", List.of(d1, r.period()), intAttr("fmod", 1)),
                              zero)));
              return g.cast(g.unsqueeze(m, 1), FLOAT);
            });
    return new RepeatKeyMasks(echo, induction);
  }

  /** The needle's keys as [B,1,1,K] float. */
  private String needleKeyMask() {
    return keyMasks.computeIfAbsent(
        "needle",
        k -> {
          Needle n = globals.needle();
          String keys =
              g.op(
                  "And",
                  rows.validJ(),
                  g.op(
                      "And",
                      g.greaterOrEqual(rows.posJ(), n.start()),
                      g.less(rows.posJ(), n.end()))); // [B,1,K]
          return g.cast(g.unsqueeze(keys, 1), FLOAT);
        });
  }
}
