package io.headwise.export.attention;

import static io.headwise.export.attention.HeadwiseAttentionOp.ATTR_ALPHA;
import static io.headwise.export.attention.HeadwiseAttentionOp.ATTR_BETA;
import static io.headwise.export.attention.HeadwiseAttentionOp.ATTR_BUDGET_GROUPS;
import static io.headwise.export.attention.HeadwiseAttentionOp.ATTR_BUDGET_TOKENS;
import static io.headwise.export.attention.HeadwiseAttentionOp.ATTR_CAUSAL;
import static io.headwise.export.attention.HeadwiseAttentionOp.ATTR_COMPENSATION;
import static io.headwise.export.attention.HeadwiseAttentionOp.ATTR_KINDS;
import static io.headwise.export.attention.HeadwiseAttentionOp.ATTR_KV_HEADS;
import static io.headwise.export.attention.HeadwiseAttentionOp.ATTR_RECENT_TOKENS;
import static io.headwise.export.attention.HeadwiseAttentionOp.ATTR_SCALE;
import static io.headwise.export.attention.HeadwiseAttentionOp.ATTR_SINK_TOKENS;
import static io.headwise.export.attention.HeadwiseAttentionOp.ATTR_SOFTCAP;

import ai.onnx.proto.OnnxMl.FunctionProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import io.headwise.graph.GraphBuilder;
import io.headwise.graph.Tensors;
import io.headwise.schemas.HeadwiseException;
import java.util.List;

/**
 * The model-local function {@code ai.headwise::HeadwiseAttention}: the reference body of the op,
 * written against the model's own default-domain opset (11 and later), so that stock ONNX Runtime
 * inlines and runs it.
 *
 * <p>Body, for query head h (all per-head values read from the call site's attributes):
 *
 * <pre>
 *   K_h = K[kv_heads[h]], V_h = V[kv_heads[h]]
 *   a   = scale · Q·K_hᵀ;  softcap &gt; 0: a = softcap · tanh(a / softcap)
 *   s   = a + mask                                                 [B, H, Tq, Tk]
 *   i   = Tk − Tq + query index (absolute position), j = key index
 *   causal:        n = i + 1, d = i − j, order = (j ≤ i)
 *   bidirectional: n = Tk,    d = |i − j|, order = true
 *   span_h = max(0, α_h + β_h·n)                                   (float32: β·n, then + α)
 *   keep = order ∧ (kind_h = full ∨ (kind_h ∈ {streaming, elastic} ∧ (j &lt; sink_h ∨ d &lt; span_h)) ∨ budget_keep)
 *   P    = softmax(where(keep, s, −∞)) with rows that keep nothing set to 0
 *   out  = P · V_h
 * </pre>
 *
 * {@code budget_keep} is evaluated only when some head has kind budget (an {@code If} on the
 * kinds), by the H2O-style policy documented in docs/headwise-attention.md. Heads with {@code
 * compensation = 1} add RazorAttention's compensation entry for their dropped tokens (another
 * {@code If}, taken only when some head has one).
 */
public final class HeadwiseAttentionFunction {
  /** The lowest default-domain opset the body is written for. */
  public static final int MIN_OPSET = 11;

  private HeadwiseAttentionFunction() {}

  /** The function for a model whose default-domain opset is {@code opset}. */
  public static FunctionProto build(int opset) {
    if (opset < MIN_OPSET) {
      throw new HeadwiseException(
          "HeadwiseAttention needs a model at ONNX opset "
              + MIN_OPSET
              + " or later; this"
              + " model imports opset "
              + opset
              + " (re-export it with opset_version >= "
              + MIN_OPSET
              + ")");
    }
    BodyBuilder b = new BodyBuilder(opset, "");
    String q = HeadwiseAttentionOp.INPUT_QUERY;
    String k = HeadwiseAttentionOp.INPUT_KEY;
    String v = HeadwiseAttentionOp.INPUT_VALUE;
    String mask = HeadwiseAttentionOp.INPUT_MASK;

    // Attributes.
    String kinds = b.attributeTensor(ATTR_KINDS);
    String kvHeads = b.attributeTensor(ATTR_KV_HEADS);
    String scale = b.attributeTensor(ATTR_SCALE);
    String causalFlag = b.cast(b.attributeTensor(ATTR_CAUSAL), GraphBuilder.BOOL);
    String sinks = b.attributeTensor(ATTR_SINK_TOKENS);
    String alpha = b.attributeTensor(ATTR_ALPHA);
    String beta = b.attributeTensor(ATTR_BETA);
    String budget = b.attributeTensor(ATTR_BUDGET_TOKENS);
    String recent = b.attributeTensor(ATTR_RECENT_TOKENS);
    String groups = b.attributeTensor(ATTR_BUDGET_GROUPS);
    String compensation = b.attributeTensor(ATTR_COMPENSATION);
    String softcap = b.attributeTensor(ATTR_SOFTCAP);

    String zeroF = b.floatScalar("zero", 0f);
    String oneF = b.floatScalar("one", 1f);
    String zeroL = b.longScalar("zero_i", 0);
    String oneL = b.longScalar("one_i", 1);

    // Scores.
    String keyH = b.op("Gather", "key_h", List.of(k, kvHeads), GraphBuilder.intAttr("axis", 1));
    String valueH = b.op("Gather", "value_h", List.of(v, kvHeads), GraphBuilder.intAttr("axis", 1));
    String raw = b.op("MatMul", "qk", q, b.transpose(keyH, 0, 1, 3, 2));
    String product = b.op("Mul", "scaled", raw, scale);
    // Soft-capping as the models compute it (Div → Tanh → Mul, before any mask); the divisor is
    // made 1 when softcap is 0 so that the unused branch of the Where holds no NaN.
    String capped = b.op("Greater", "has_softcap", softcap, zeroF);
    String cap = b.where(capped, softcap, oneF);
    String scaled =
        b.where(
            capped,
            b.op("Mul", "capped", b.op("Tanh", "tanh", b.op("Div", "div_cap", product, cap)), cap),
            product);
    String scores = b.op("Add", "scores", scaled, mask);

    // Positions: queries are the last Tq of the Tk keys.
    String tq =
        b.op(
            "Gather",
            "tq",
            List.of(b.op("Shape", "q_shape", q), b.longScalar("axis2", 2)),
            GraphBuilder.intAttr("axis", 0));
    String tk =
        b.op(
            "Gather",
            "tk",
            List.of(b.op("Shape", "k_shape", k), b.longScalar("axis2", 2)),
            GraphBuilder.intAttr("axis", 0));
    String queryPos = b.op("Range", "query_pos", b.op("Sub", "first_query", tk, tq), tk, oneL);
    String keyPos = b.op("Range", "key_pos", zeroL, tk, oneL);
    String i = b.reshape(b.cast(queryPos, GraphBuilder.FLOAT), -1, 1); // [Tq, 1]
    String j = b.reshape(b.cast(keyPos, GraphBuilder.FLOAT), 1, -1); // [1, Tk]
    String diff = b.op("Sub", "i_minus_j", i, j); // [Tq, Tk]
    String order = b.not(b.and(causalFlag, b.less(diff, zeroF))); // j ≤ i when causal
    String dist = b.where(causalFlag, diff, b.op("Abs", "abs", diff));
    String tkF = b.cast(tk, GraphBuilder.FLOAT);
    String n = b.where(causalFlag, b.op("Add", "n_causal", i, oneF), tkF); // [Tq, 1] or []

    // Static (sink + window) heads.
    String kinds3 = b.reshape(kinds, -1, 1, 1);
    String alpha3 = b.reshape(alpha, -1, 1, 1);
    String beta3 = b.reshape(beta, -1, 1, 1);
    String sinks3 = b.reshape(b.cast(sinks, GraphBuilder.FLOAT), -1, 1, 1);
    String span =
        b.op(
            "Max",
            "span",
            b.op("Add", "alpha_beta_n", alpha3, b.op("Mul", "beta_n", beta3, n)),
            zeroF);
    String inWindow = b.less(dist, span); // [H, Tq, Tk]
    String inSink = b.less(j, sinks3); // [H, 1, Tk]
    String isFull =
        b.op("Equal", "is_full", kinds3, b.longScalar("kind_full", HeadwiseAttentionOp.KIND_FULL));
    String isWindowed =
        b.or(
            b.op(
                "Equal",
                "is_streaming",
                kinds3,
                b.longScalar("kind_streaming", HeadwiseAttentionOp.KIND_STREAMING)),
            b.op(
                "Equal",
                "is_elastic",
                kinds3,
                b.longScalar("kind_elastic", HeadwiseAttentionOp.KIND_ELASTIC)));
    String staticKeep = b.or(isFull, b.and(isWindowed, b.or(inSink, inWindow)));

    // Budget heads, evaluated only when there is one.
    String budgetKind = b.longScalar("kind_budget", HeadwiseAttentionOp.KIND_BUDGET);
    String anyBudget =
        b.cast(
            b.reduceMaxAll(
                b.cast(b.op("Equal", "is_budget_1d", kinds, budgetKind), GraphBuilder.INT64)),
            GraphBuilder.BOOL);
    String budgetKeep = b.fresh("budget_keep");
    GraphProto thenBranch =
        HeadwiseAttentionBranches.budget(
            b.branch("budget/"),
            scores,
            order,
            dist,
            n,
            tkF,
            kinds,
            kinds3,
            budgetKind,
            budget,
            recent,
            groups,
            zeroF,
            oneF,
            zeroL,
            oneL);
    BodyBuilder none = b.branch("no_budget/");
    String nothing = none.op("Identity", "keep", none.boolScalar("false", false));
    GraphProto elseBranch = HeadwiseAttentionBranches.boolGraph("no_budget", none, nothing);
    b.ifNode(List.of(anyBudget), List.of(budgetKeep), thenBranch, elseBranch);

    // Masked softmax and P·V; then RazorAttention's compensation entry when some head has one.
    String keep = b.and(order, b.or(staticKeep, budgetKeep));
    String masked = b.where(keep, scores, b.floatScalar("minus_inf", Float.NEGATIVE_INFINITY));
    String p = b.op("Softmax", "probs", List.of(masked), GraphBuilder.intAttr("axis", -1));
    String safe = b.where(b.op("IsNaN", "empty_row", p), zeroF, p);
    String pv = b.op("MatMul", "attended", safe, valueH);
    String oneCompensation = b.longScalar("one_compensation", 1);
    String anyCompensation =
        b.cast(
            b.reduceMaxAll(
                b.cast(
                    b.op("Equal", "is_compensated_1d", compensation, oneCompensation),
                    GraphBuilder.INT64)),
            GraphBuilder.BOOL);
    GraphProto withEntry =
        HeadwiseAttentionBranches.compensation(
            b.branch("compensation/"),
            masked,
            scaled,
            order,
            staticKeep,
            isWindowed,
            compensation,
            oneCompensation,
            tk,
            valueH,
            zeroF,
            oneF);
    BodyBuilder none2 = b.branch("no_compensation/");
    String noEntry = none2.op("Identity", "entry_prob", zeroF);
    String noValue = none2.op("Identity", "entry_value", zeroF);
    GraphProto withoutEntry =
        GraphProto.newBuilder()
            .setName("no_compensation")
            .addAllNode(none2.nodes())
            .addOutput(HeadwiseAttentionBranches.floatOutput(noEntry))
            .addOutput(HeadwiseAttentionBranches.floatOutput(noValue))
            .build();
    String entryProb = b.fresh("entry_prob");
    String entryValue = b.fresh("entry_value");
    b.ifNode(List.of(anyCompensation), List.of(entryProb, entryValue), withEntry, withoutEntry);
    // softmax over (kept, entry) = (1 − p_c)·softmax over kept, so out = (1 − p_c)·P·V +
    // p_c·mean(V_D); without an
    // entry p_c = 0 and out = P·V exactly.
    b.node(
        "Add",
        List.of(
            b.op("Mul", "kept_share", pv, b.op("Sub", "one_minus_entry", oneF, entryProb)),
            b.op("Mul", "entry_share", entryProb, entryValue)),
        List.of(HeadwiseAttentionOp.OUTPUT));

    FunctionProto.Builder f =
        FunctionProto.newBuilder()
            .setName(HeadwiseAttentionOp.OP_TYPE)
            .setDomain(HeadwiseAttentionOp.DOMAIN)
            .setDocString(
                "Per-head KV-cache plan applied to one attention core (QK^T -> softmax -> V); see"
                    + " docs/headwise-attention.md")
            .addInput(q)
            .addInput(k)
            .addInput(v)
            .addInput(mask)
            .addOutput(HeadwiseAttentionOp.OUTPUT)
            .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(opset))
            .addAllNode(b.nodes());
    for (String a : HeadwiseAttentionOp.REQUIRED_ATTRIBUTES) {
      f.addAttribute(a);
    }
    f.addAttributeProto(GraphBuilder.tensorAttr(ATTR_SINK_TOKENS, Tensors.longScalar("", 0)));
    f.addAttributeProto(GraphBuilder.tensorAttr(ATTR_ALPHA, Tensors.floatScalar("", 0f)));
    f.addAttributeProto(GraphBuilder.tensorAttr(ATTR_BETA, Tensors.floatScalar("", 0f)));
    f.addAttributeProto(GraphBuilder.tensorAttr(ATTR_BUDGET_TOKENS, Tensors.longScalar("", 0)));
    f.addAttributeProto(GraphBuilder.tensorAttr(ATTR_RECENT_TOKENS, Tensors.longScalar("", 0)));
    f.addAttributeProto(GraphBuilder.tensorAttr(ATTR_BUDGET_GROUPS, Tensors.longScalar("", -1)));
    f.addAttributeProto(GraphBuilder.tensorAttr(ATTR_COMPENSATION, Tensors.longScalar("", 0)));
    f.addAttributeProto(GraphBuilder.tensorAttr(ATTR_SOFTCAP, Tensors.floatScalar("", 0f)));
    return f.build();
  }
}
