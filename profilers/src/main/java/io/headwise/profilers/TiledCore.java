package io.headwise.profilers;

import static io.headwise.graph.ElementType.BOOL;
import static io.headwise.graph.ElementType.FLOAT;
import static io.headwise.graph.ElementType.INT64;
import static io.headwise.graph.GraphBuilder.intAttr;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TypeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import io.headwise.graph.AttentionBlock;
import io.headwise.graph.AttentionMap;
import io.headwise.graph.ElementType;
import io.headwise.graph.GraphBuilder;
import io.headwise.graph.OnnxModel;
import io.headwise.graph.Tensors;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * The query-tiled profiling core: replaces one attention core (QKᵀ → scale, mask → softmax → ·V) by
 * an ONNX {@code Loop} over blocks of {@code tq} query rows. Per block the body slices the block's
 * rows of Q, computes its scores against the keys (for a causal core only keys up to the block's
 * last query), scales them by the core's scale, masks them (keys that are padding, and later keys
 * of a causal core, become float32's lowest value), takes the softmax, the block's rows of P·V (the
 * loop's scan output, reassembled into the core's output tensor so the next layer reads the same
 * values), and the block's share of every statistic ({@link RowStats}) added to [B, H] loop-carried
 * sums; the column mass is carried as [B, H, T]. Neither the block's probabilities nor anything
 * else of size T² outlives a block: memory is O(B·H·tq·T) for the block plus O(B·H·T·D) for Q, K, V
 * and the output.
 *
 * <p>The mask is rebuilt from the attention mask and causality instead of slicing the model's own
 * mask (a [B, 1, T, T] tensor in most exports); that is exact only where the model's score path is
 * {@code scale · Q·Kᵀ} on the keys it lets a query see and drives the others to zero probability,
 * which {@link ScorePathCheck} verifies per layer on a padded probe batch before a layer is tiled.
 * Query rows of padding see all their keys masked and get a uniform (finite) distribution; they are
 * never counted, and no valid query reads their output.
 *
 * <p>The loop computes in float32. A float16 or bfloat16 core's Q, K and V are cast to float32 once
 * before the loop and its output back after it: its statistics come from float32 probabilities of
 * the model's half-precision Q and K, which differ from the model's own half-precision softmax by
 * that rounding (measured in docs/tiled-attention.md).
 *
 * <p>About 460 lines as one class on purpose: the slicing, masking, ablation, carried sums and the
 * reassembly after the loop all write into one Loop body and share its builder and its carried
 * inputs and outputs, which a split would have to pass around in order.
 */
final class TiledCore {
  /**
   * float32's lowest value: added where a key is masked (finite, so fully masked rows stay finite).
   */
  static final float MASKED = -Float.MAX_VALUE;

  /**
   * Core element types the loop reproduces: it computes in float32, so a float16 or bfloat16 core's
   * probabilities there differ from the model's own by that type's rounding
   * (docs/tiled-attention.md).
   */
  static final Set<ElementType> COMPUTED_TYPES =
      Set.of(FLOAT, ElementType.FLOAT16, ElementType.BFLOAT16);

  /** One [B, H] statistic sum after the loop. */
  record Sum(String stat, String tensor, String counts, String denominator) {}

  /** The layer's statistic sums and its column mass [B, H, T]. */
  record Result(List<Sum> sums, String colsum) {}

  private final GraphBuilder g;
  private final RowStats.Globals globals;
  private final int queryBlock;
  private final String tL;
  private final String validB;
  private final String posF;
  private final String validF;
  private final String repeatQ;
  private final String answerQ;
  // outer-scope tensors shared by every layer's loop, built on first use
  private String trips; // scalar int64 number of blocks
  private String paddedT; // [1] int64 trips · tq
  private String posPad; // [B, Tp]
  private String validPad; // [B, Tp]
  private String repeatPad; // [B, Tp] or null
  private String answerPad; // [B, Tp] or null
  private String posJ; // [B, 1, T]
  private String validJ; // [B, 1, T] bool
  private String keyValid4; // [B, 1, 1, T] bool
  private String condTrue;
  private Ablation ablation;
  private Map<Integer, ScorePathCheck.KeyMask> keyMasks = Map.of();
  private String lengthValid4; // [B, 1, 1, T] bool: key index < Σ mask, built on first use

  /**
   * The sensitivity ablation (see {@link AblationInstrumenter}) applied inside the loop: in layer
   * {@code layer}'s kv-head group {@code kvHead}, keys outside the first {@code sinks} and the band
   * of {@code window} positions are masked. Scalars in the outer scope: window, sinks and kvHead as
   * float, layer as int64.
   */
  record Ablation(String window, String sinks, String kvHead, String layer) {}

  /** Applies {@code a} in every layer rewritten from now on. */
  void ablate(Ablation a) {
    this.ablation = a;
  }

  TiledCore(
      GraphBuilder g,
      RowStats.Globals globals,
      int queryBlock,
      String tL,
      String validB,
      String posF,
      String validF,
      String repeatQ,
      String answerQ) {
    this.g = g;
    this.globals = globals;
    this.queryBlock = queryBlock;
    this.tL = tL;
    this.validB = validB;
    this.posF = posF;
    this.validF = validF;
    this.repeatQ = repeatQ;
    this.answerQ = answerQ;
  }

  /**
   * The layers of {@code map} whose core this rewrite reproduces: float32 attention with a readable
   * scale whose score path {@link ScorePathCheck} verified.
   */
  static Set<Integer> tileableLayers(OnnxModel model, AttentionMap map) {
    return keyMasks(model, map).keySet();
  }

  /** The tileable layers ({@link #tileableLayers}) and the key mask each one's loop rebuilds. */
  static Map<Integer, ScorePathCheck.KeyMask> keyMasks(OnnxModel model, AttentionMap map) {
    Map<Integer, ScorePathCheck.KeyMask> out = new TreeMap<>();
    Map<Integer, ScorePathCheck.KeyMask> verified = ScorePathCheck.verifiedLayers(model, map);
    for (AttentionBlock b : map.blocks()) {
      if (reasonNotTiled(b) == null && verified.containsKey(b.layer())) {
        out.put(b.layer(), verified.get(b.layer()));
      }
    }
    return out;
  }

  /**
   * Rebuilds the key mask of the layers in {@code masks} as given (from {@link #keyMasks}; layers
   * not in it use the attention mask).
   */
  void keyMasks(Map<Integer, ScorePathCheck.KeyMask> masks) {
    this.keyMasks = Map.copyOf(masks);
  }

  /** Why a block cannot be tiled on structural grounds, or null. */
  static String reasonNotTiled(AttentionBlock b) {
    if (!COMPUTED_TYPES.contains(b.probabilitiesType())) {
      return "its attention runs in ONNX element type "
          + b.probabilitiesType().code()
          + ", not float32, float16 or bfloat16";
    }
    if (Double.isNaN(b.scale()) || Double.isInfinite(b.scale())) {
      return "its score scale could not be read";
    }
    return null;
  }

  private void sharedOuter() {
    if (trips != null) {
      return;
    }
    String tq = g.constLong(queryBlock);
    trips = g.op("Div", g.op("Add", tL, g.constLong(queryBlock - 1)), tq);
    paddedT = g.unsqueeze(g.op("Mul", trips, tq), 0);
    posPad = posF == null ? null : padRows(posF, 2, 1);
    validPad = padRows(validF, 2, 1);
    repeatPad = repeatQ == null ? null : padRows(repeatQ, 2, 1);
    answerPad = answerQ == null ? null : padRows(answerQ, 2, 1);
    posJ = posF == null ? null : g.unsqueeze(posF, 1);
    validJ = g.unsqueeze(validB, 1);
    keyValid4 = g.unsqueeze(validB, 1, 2);
    condTrue = g.cast(g.constLong(1), BOOL);
  }

  /**
   * [B, 1, 1, T] bool: key j &lt; Σ_j mask[b, j], the keys a valid-lengths core
   * (GroupQueryAttention's seqlens_k, a 1-D mask_index) lets every query of row b see.
   */
  private String lengthValid() {
    if (lengthValid4 == null) {
      String length = g.reduceSum(validF, true, 1); // [B, 1]
      String keyIndex =
          g.unsqueeze(g.cast(g.op("Range", g.constLong(0), tL, g.constLong(1)), FLOAT), 0);
      lengthValid4 = g.unsqueeze(g.less(keyIndex, length), 1, 2);
    }
    return lengthValid4;
  }

  /**
   * {@code x} (float, rank {@code rank}) padded with zeros along {@code axis} to Tp = trips · tq.
   */
  private String padRows(String x, int rank, int axis) {
    String shape = g.op("Shape", x);
    String have = g.dim(shape, axis);
    List<String> parts = new ArrayList<>();
    if (axis > 0) {
      parts.add(g.op("Slice", shape, g.constLongs(true, 0), g.constLongs(true, axis)));
    }
    parts.add(g.op("Sub", paddedT, have));
    if (axis < rank - 1) {
      parts.add(g.op("Slice", shape, g.constLongs(true, axis + 1), g.constLongs(true, rank)));
    }
    String zeros =
        g.op(
            "ConstantOfShape",
            List.of(g.op("Concat", parts, intAttr("axis", 0))),
            GraphBuilder.tensorAttr("value", Tensors.floats("zero", new long[] {1}, 0f)));
    return g.op("Concat", List.of(x, zeros), intAttr("axis", axis));
  }

  /**
   * Rewrites block {@code b}: appends its loop (whose reassembled output takes the name of the
   * core's output tensor) and removes the core's P·V node, so everything else of the core becomes
   * dead and is pruned afterwards.
   */
  Result layer(AttentionBlock b, String normName) {
    return layer(b, normName, true);
  }

  /**
   * As {@link #layer(AttentionBlock, String)}; without statistics (this core built with null
   * globals) the loop carries only the column mass when {@code columnMass}, and nothing otherwise
   * (result colsum null).
   */
  Result layer(AttentionBlock b, String normName, boolean columnMass) {
    sharedOuter();
    int l = b.layer();
    boolean causal = b.causal();
    // The loop computes in float32 whatever the core's type: a float16 (or bfloat16) core's Q, K
    // and V are cast once here ([B, H, T, D], linear in T) and the reassembled output is cast back
    // in finish(), so the next layer reads the model's type.
    String query = toFloat(b, b.queryTensor());
    String keyT = toFloat(b, b.keyTransposedTensor());
    String value = toFloat(b, b.valueTensor());
    String qPad = padRows(query, 4, 2);
    String qShape = g.op("Shape", query);
    String bh = g.op("Slice", qShape, g.constLongs(true, 0), g.constLongs(true, 2));
    String zero = "value";
    String zerosBH =
        g.op(
            "ConstantOfShape",
            List.of(bh),
            GraphBuilder.tensorAttr(zero, Tensors.floats("zero", new long[] {1}, 0f)));
    String zerosBHT =
        g.op(
            "ConstantOfShape",
            List.of(g.op("Concat", List.of(bh, g.unsqueeze(tL, 0)), intAttr("axis", 0))),
            GraphBuilder.tensorAttr(zero, Tensors.floats("zero", new long[] {1}, 0f)));

    GraphProto.Builder body = GraphProto.newBuilder().setName("hw_tiled_L" + l);
    GraphBuilder bg = new GraphBuilder(body, g.opset(), "hw/L" + l + "/tile/");
    String iter = bg.fresh("iter");
    String condIn = bg.fresh("cond_in");
    body.addInput(scalar(iter, INT64));
    body.addInput(scalar(condIn, BOOL));
    String tq = bg.constLong(queryBlock);
    String q0 = bg.op("Mul", iter, tq);
    String q1 = bg.op("Add", q0, tq);
    String q0v = bg.unsqueeze(q0, 0);
    String q1v = bg.unsqueeze(q1, 0);
    String keys = causal ? bg.op("Where", bg.less(q1, tL), q1, tL) : tL; // K, scalar int64
    String keysV = bg.unsqueeze(keys, 0);
    String zeroV = bg.constLongs(true, 0);

    String qb = bg.op("Slice", qPad, q0v, q1v, bg.constLongs(true, 2)); // [B,H,tq,D]
    String kt = keyT;
    if (causal) {
      kt = bg.op("Slice", kt, zeroV, keysV, bg.constLongs(true, b.qkTransposesKey() ? 2 : 3));
    }
    if (b.qkTransposesKey()) {
      kt = bg.op("Transpose", List.of(kt), GraphBuilder.intsAttr("perm", 0, 1, 3, 2));
    }
    String v = causal ? bg.op("Slice", value, zeroV, keysV, bg.constLongs(true, 2)) : value;
    String scores =
        bg.op("Mul", bg.op("MatMul", qb, kt), bg.constFloat((float) b.scale())); // [B,H,tq,K]
    String keyValid = keyMasks.get(l) == ScorePathCheck.KeyMask.LENGTH ? lengthValid() : keyValid4;
    String allowed =
        causal ? bg.op("Slice", keyValid, zeroV, keysV, bg.constLongs(true, 3)) : keyValid;
    if (causal) {
      String rowsIdx = bg.op("Range", q0, q1, bg.constLong(1));
      String colsIdx = bg.op("Range", bg.constLong(0), keys, bg.constLong(1));
      String notLater =
          bg.lessOrEqual(bg.unsqueeze(colsIdx, 0), bg.unsqueeze(rowsIdx, 1)); // [tq,K]
      allowed = bg.op("And", allowed, notLater);
    }
    if (ablation != null) {
      allowed = bg.op("And", allowed, ablationKeep(b, bg, q0v, q1v, keysV, zeroV));
    }
    String masked = bg.op("Where", allowed, scores, bg.constFloat(MASKED));
    String p = bg.op("Softmax", List.of(masked), intAttr("axis", 3));
    String ob = bg.op("MatMul", p, v); // [B,H,tq,D]

    List<String> carriedOut = new ArrayList<>();
    List<String> inits = new ArrayList<>();
    List<Sum> sums = new ArrayList<>();
    List<String> finals = new ArrayList<>();
    String qmask = rowSlice(bg, validPad, q0v, q1v);
    String colsum = null;
    if (globals != null) {
      String keyLast = causal ? bg.op("Sub", bg.cast(keys, FLOAT), bg.constFloat(1f)) : null;
      String pj = causal ? bg.op("Slice", posJ, zeroV, keysV, bg.constLongs(true, 2)) : posJ;
      String vj = causal ? bg.op("Slice", validJ, zeroV, keysV, bg.constLongs(true, 2)) : validJ;
      RowStats.Rows rows =
          new RowStats.Rows(
              rowSlice(bg, posPad, q0v, q1v),
              qmask,
              repeatPad == null ? null : rowSlice(bg, repeatPad, q0v, q1v),
              answerPad == null ? null : rowSlice(bg, answerPad, q0v, q1v),
              pj,
              vj,
              keyLast);
      // T as float computed in the body: ONNX Runtime's optimizer cannot rewrite a Cast read only
      // by a subgraph
      RowStats.Globals local =
          new RowStats.Globals(
              globals.config(),
              globals.windows(),
              globals.causal(),
              globals.fTable(),
              bg.cast(tL, FLOAT),
              globals.repeat(),
              globals.needle());
      colsum =
          new RowStats(bg, local, rows)
              .reduce(
                  p,
                  null,
                  v,
                  ob,
                  normName,
                  (stat, sum, counts, den) -> {
                    String in = bg.fresh("acc_in");
                    body.addInput(untyped(in));
                    carriedOut.add(bg.op("Add", in, sum));
                    inits.add(zerosBH);
                    String fin = g.fresh("L" + l + "_" + stat);
                    finals.add(fin);
                    sums.add(new Sum(stat, fin, counts, den));
                  });
    } else if (columnMass) {
      colsum = bg.squeeze(bg.op("MatMul", bg.unsqueeze(qmask, 1, 2), p), 2); // [B,H,K]
    }
    String colFinal = null;
    if (colsum != null) {
      colFinal = carryColumnMass(bg, body, colsum, causal, keys, carriedOut, inits, zerosBHT, l);
      finals.add(colFinal);
    }
    return finish(b, bg, body, condIn, ob, carriedOut, inits, finals, sums, colFinal);
  }

  /** [B, H, tq, K] bool: false where the ablation drops a key of a selected head. */
  private String ablationKeep(
      AttentionBlock b, GraphBuilder bg, String q0v, String q1v, String keysV, String zeroV) {
    float[] groupOf = new float[b.numHeads()];
    for (int h = 0; h < groupOf.length; h++) {
      groupOf[h] = b.kvHeadOf(h);
    }
    String groups = g.fresh("groups");
    g.graph().addInitializer(Tensors.floats(groups, new long[] {1, b.numHeads(), 1, 1}, groupOf));
    String selected =
        AblationInstrumenter.selected(
            g, groups, ablation.kvHead(), ablation.layer(), b.layer()); // [1,H,1,1]
    String pj =
        b.causal() ? bg.op("Slice", posJ, zeroV, keysV, bg.constLongs(true, 2)) : posJ; // [B,1,K]
    String d = bg.op("Sub", bg.unsqueeze(rowSlice(bg, posPad, q0v, q1v), 2), pj); // [B,tq,K]
    String band =
        b.causal() ? bg.less(d, ablation.window()) : bg.less(bg.op("Abs", d), ablation.window());
    String keep = bg.op("Or", band, bg.less(pj, ablation.sinks()));
    return bg.op("Or", bg.op("Not", selected), bg.unsqueeze(keep, 1));
  }

  /**
   * Adds the block's column mass [B,H,K] (zero-padded to T keys) to a carried [B,H,T]; returns the
   * final name.
   */
  private String carryColumnMass(
      GraphBuilder bg,
      GraphProto.Builder body,
      String colsum,
      boolean causal,
      String keys,
      List<String> carriedOut,
      List<String> inits,
      String zerosBHT,
      int l) {
    if (causal) {
      String cs = bg.op("Shape", colsum);
      String padShape =
          bg.op(
              "Concat",
              List.of(
                  bg.op("Slice", cs, bg.constLongs(true, 0), bg.constLongs(true, 2)),
                  bg.unsqueeze(bg.op("Sub", tL, keys), 0)),
              intAttr("axis", 0));
      String pad =
          bg.op(
              "ConstantOfShape",
              List.of(padShape),
              GraphBuilder.tensorAttr("value", Tensors.floats("zero", new long[] {1}, 0f)));
      colsum = bg.op("Concat", List.of(colsum, pad), intAttr("axis", 2));
    }
    String colIn = bg.fresh("colsum_in");
    body.addInput(untyped(colIn));
    carriedOut.add(bg.op("Add", colIn, colsum));
    inits.add(zerosBHT);
    return g.fresh("L" + l + "_colsum");
  }

  /** Closes the body, appends the loop and reassembles the core's output from the blocks. */
  private Result finish(
      AttentionBlock b,
      GraphBuilder bg,
      GraphProto.Builder body,
      String condIn,
      String ob,
      List<String> carriedOut,
      List<String> inits,
      List<String> finals,
      List<Sum> sums,
      String colFinal) {
    int l = b.layer();
    String condOut = bg.fresh("cond_out");
    bg.identity(condIn, condOut);
    body.addOutput(scalar(condOut, BOOL));
    for (String c : carriedOut) {
      body.addOutput(untyped(c));
    }
    body.addOutput(untyped(ob));

    String stacked = g.fresh("L" + l + "_blocks"); // [trips, B, H, tq, D]
    List<String> loopInputs = new ArrayList<>(List.of(trips, condTrue));
    loopInputs.addAll(inits);
    List<String> loopOutputs = new ArrayList<>(finals);
    loopOutputs.add(stacked);
    g.graph()
        .addNode(
            NodeProto.newBuilder()
                .setOpType("Loop")
                .setName(g.fresh("tiled_attention_L" + l))
                .addAllInput(loopInputs)
                .addAllOutput(loopOutputs)
                .addAttribute(
                    AttributeProto.newBuilder()
                        .setName("body")
                        .setType(AttributeProto.AttributeType.GRAPH)
                        .setG(body)));
    String rowsFirst =
        g.op("Transpose", List.of(stacked), GraphBuilder.intsAttr("perm", 1, 2, 0, 3, 4));
    String dv = g.dim(g.op("Shape", stacked), 4);
    String merged =
        g.op(
            "Reshape",
            rowsFirst,
            g.op("Concat", List.of(g.constLongs(true, 0, 0, -1), dv), intAttr("axis", 0)));
    removeProducer(b.outputTensor());
    List<String> sliceInputs =
        List.of(merged, g.constLongs(true, 0), g.unsqueeze(tL, 0), g.constLongs(true, 2));
    if (b.probabilitiesType() == FLOAT) {
      g.op("Slice", sliceInputs, List.of(b.outputTensor()));
    } else { // back to the core's own type (P·V has P's type)
      g.op(
          "Cast",
          List.of(g.op("Slice", sliceInputs)),
          List.of(b.outputTensor()),
          intAttr("to", b.probabilitiesType().code()));
    }
    return new Result(sums, colFinal);
  }

  private String toFloat(AttentionBlock b, String x) {
    return b.probabilitiesType() == FLOAT ? x : g.cast(x, FLOAT);
  }

  private static String rowSlice(GraphBuilder bg, String x, String q0v, String q1v) {
    return bg.op("Slice", x, q0v, q1v, bg.constLongs(true, 1));
  }

  /**
   * Removes the node that writes {@code tensor} (the core's P·V), which the loop's output replaces.
   */
  private void removeProducer(String tensor) {
    GraphProto.Builder graph = g.graph();
    for (int i = 0; i < graph.getNodeCount(); i++) {
      if (graph.getNode(i).getOutputList().contains(tensor)) {
        graph.removeNode(i);
        return;
      }
    }
    throw new IllegalStateException("no node writes " + tensor);
  }

  private static ValueInfoProto scalar(String name, ElementType elemType) {
    return ValueInfoProto.newBuilder()
        .setName(name)
        .setType(
            TypeProto.newBuilder()
                .setTensorType(
                    TypeProto.Tensor.newBuilder()
                        .setElemType(elemType.code())
                        .setShape(ai.onnx.proto.OnnxMl.TensorShapeProto.getDefaultInstance())))
        .build();
  }

  private static ValueInfoProto untyped(String name) {
    return ValueInfoProto.newBuilder()
        .setName(name)
        .setType(
            TypeProto.newBuilder()
                .setTensorType(TypeProto.Tensor.newBuilder().setElemType(FLOAT.code())))
        .build();
  }
}
