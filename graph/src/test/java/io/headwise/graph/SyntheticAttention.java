package io.headwise.graph;

import static io.headwise.graph.GraphBuilder.intAttr;
import static io.headwise.graph.GraphBuilder.intsAttr;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.FunctionProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;

/**
 * Small runnable transformer graphs (token embedding, per-layer Q/K/V projections, one attention
 * core, output projection) whose attention core reproduces, node for node, the forms exporters
 * emit. Weights are random; the locator's probe run executes them in ONNX Runtime.
 */
final class SyntheticAttention {
  /** How the scale is applied. */
  enum Scale {
    /** Div(scores, √d): TorchScript eager GPT-2/BERT. */
    DIV_SCORES,
    /** Mul(scores, 1/√d): eager Llama family. */
    MUL_SCORES,
    /** Mul(Q, √s) and Mul(Kᵀ, √s): the TorchScript SDPA symbolic. */
    SPLIT_SQRT,
    /** Mul(Q, s) before Q·Kᵀ. */
    QUERY_ONLY,
    /** Div(scores, Sqrt(Cast(Shape(Q)[3]))): a scale computed at run time. */
    DYNAMIC_DIV,
    /** Mul(scores, Reciprocal(Sqrt(Cast(Shape(Q)[3])))): the same as a product. */
    DYNAMIC_MUL,
    /**
     * com.microsoft FusedMatMul(Q, K, alpha=s, transB=1): ONNX Runtime's offline-optimized graphs.
     */
    FUSED_MATMUL
  }

  /** How the scores are masked. */
  enum Mask {
    NONE,
    /** Add((1 − mask)·−1e9 as [B,1,1,T]): BERT padding. */
    PADDING_ADD,
    /** Where(causal, scores, −3.4e38) then the padding Add: GPT-2 eager. */
    GPT2_WHERE_CAUSAL,
    /** Add(Where(causal ∧ mask, 0, −inf)): the TorchScript SDPA symbolic with a boolean mask. */
    SDPA_BOOL_WHERE_ADD,
    /**
     * w·b − 1e4·(1 − b) with b a slice of a lower-triangular float buffer, then the padding Add:
     * GPT-2 as older transformers exported it (a multiplicative mask).
     */
    GPT2_OLD_MULTIPLICATIVE
  }

  int opset = 17;
  int layers = 2;
  int heads = 4;
  int kvHeads = 4;
  int headDim = 8;
  int vocab = 64;
  Scale scale = Scale.MUL_SCORES;
  Mask mask = Mask.PADDING_ADD;
  boolean nanGuard;
  boolean dropout;

  /**
   * Cast the scores to float before Softmax and the probabilities back (a no-op in float, but the
   * same nodes).
   */
  boolean castAround;

  /** Probabilities as [B·H, T, T] (heads folded into the batch, MatMul on rank-3 tensors). */
  boolean foldHeads;

  /**
   * The core QKᵀ → Mul(scale) → Softmax → ·V as a call of a model-local function (domain {@code
   * pkg.test}) whose scale is a Constant taking the call site's {@code scale} attribute by
   * reference, as the dynamo exporter's function-preserving exports do; no mask.
   */
  boolean asFunction;

  private final Random rnd = new Random(7);

  /** The model proto with embedded weights. */
  ModelProto build() {
    GraphProto.Builder graph = GraphProto.newBuilder().setName("synthetic");
    GraphBuilder g = new GraphBuilder(graph, opset, "");
    g.addInput("input_ids", ElementType.INT64, "batch", "seq");
    g.addInput("attention_mask", ElementType.INT64, "batch", "seq");
    int e = heads * headDim;
    String x =
        g.op("Gather", List.of(weight(g, "embed", vocab, e), "input_ids"), intAttr("axis", 0));
    String maskF = g.cast("attention_mask", ElementType.FLOAT);
    for (int l = 0; l < layers; l++) {
      String attn = attention(g, l, x, maskF);
      x = g.op("Add", x, g.op("MatMul", attn, weight(g, "layers." + l + ".o_proj", e, e)));
    }
    g.identity(x, "out");
    g.addOutput("out", ElementType.FLOAT, "batch", "seq", String.valueOf(e));
    ModelProto.Builder m =
        ModelProto.newBuilder()
            .setIrVersion(8)
            .setProducerName("headwise-test")
            .setGraph(graph)
            .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(opset));
    if (scale == Scale.FUSED_MATMUL) {
      m.addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("com.microsoft").setVersion(1));
    }
    if (asFunction) {
      m.addOpsetImport(OperatorSetIdProto.newBuilder().setDomain(FUNCTION_DOMAIN).setVersion(1));
      m.addFunctions(coreFunction());
    }
    return m.build();
  }

  /** Writes the model to {@code dir/name} and returns it loaded by path. */
  OnnxModel write(Path dir, String name) throws IOException {
    Path p = dir.resolve(name);
    try (OutputStream out = Files.newOutputStream(p)) {
      build().writeTo(out);
    }
    return OnnxModel.load(p);
  }

  private String attention(GraphBuilder g, int l, String x, String maskF) {
    int e = heads * headDim;
    String pre = "layers." + l + ".";
    String q = heads(g, g.op("MatMul", x, weight(g, pre + "q_proj", e, e)), heads);
    String k =
        heads(g, g.op("MatMul", x, weight(g, pre + "k_proj", e, kvHeads * headDim)), kvHeads);
    String v =
        heads(g, g.op("MatMul", x, weight(g, pre + "v_proj", e, kvHeads * headDim)), kvHeads);
    if (kvHeads < heads) {
      k = repeatKv(g, k);
      v = repeatKv(g, v);
    }
    if (foldHeads) {
      q = fold(g, q);
      k = fold(g, k);
      v = fold(g, v);
    }
    long[] kPerm = foldHeads ? new long[] {0, 2, 1} : new long[] {0, 1, 3, 2};
    float s = (float) (1.0 / Math.sqrt(headDim));
    if (asFunction) {
      String o = g.fresh("core");
      g.op("SdpaCore", List.of(q, k, v), List.of(o), GraphBuilder.floatAttr("scale", s));
      g.graph()
          .getNodeBuilder(g.graph().getNodeCount() - 1)
          .setDomain(FUNCTION_DOMAIN)
          .setName("layers." + l + ".self_attn.core");
      String t = g.op("Transpose", List.of(o), intsAttr("perm", 0, 2, 1, 3));
      return g.op("Reshape", t, g.constLongs(true, 0, 0, heads * headDim));
    }
    String scores;
    switch (scale) {
      case SPLIT_SQRT:
        {
          String root = g.constFloat((float) Math.sqrt(s));
          String kt = g.op("Transpose", List.of(k), intsAttr("perm", kPerm));
          scores = g.op("MatMul", g.op("Mul", q, root), g.op("Mul", kt, root));
          break;
        }
      case QUERY_ONLY:
        scores =
            g.op(
                "MatMul",
                g.op("Mul", q, g.constFloat(s)),
                g.op("Transpose", List.of(k), intsAttr("perm", kPerm)));
        break;
      case FUSED_MATMUL:
        {
          scores = g.fresh("fused_qk");
          g.op(
              "FusedMatMul",
              List.of(q, k),
              List.of(scores),
              intAttr("transA", 0),
              intAttr("transB", 1),
              GraphBuilder.floatAttr("alpha", s));
          NodeProto.Builder n = g.graph().getNodeBuilder(g.graph().getNodeCount() - 1);
          n.setDomain("com.microsoft");
          break;
        }
      default:
        {
          String raw = g.op("MatMul", q, g.op("Transpose", List.of(k), intsAttr("perm", kPerm)));
          if (scale == Scale.DIV_SCORES) {
            scores = g.op("Div", raw, g.constFloat((float) Math.sqrt(headDim)));
          } else if (scale == Scale.MUL_SCORES) {
            scores = g.op("Mul", raw, g.constFloat(s));
          } else {
            String d =
                g.op(
                    "Gather",
                    List.of(g.op("Shape", q), g.constLong(foldHeads ? 2 : 3)),
                    intAttr("axis", 0));
            String root = g.op("Sqrt", g.cast(d, ElementType.FLOAT));
            scores =
                scale == Scale.DYNAMIC_DIV
                    ? g.op("Div", raw, root)
                    : g.op("Mul", raw, g.op("Reciprocal", root));
          }
        }
    }
    scores = mask(g, scores, maskF);
    if (castAround) {
      scores = g.cast(scores, ElementType.FLOAT);
    }
    String p =
        g.op("Softmax", List.of(scores), intAttr("axis", opset >= 13 ? -1 : foldHeads ? 2 : 3));
    if (nanGuard) {
      p = g.op("Where", g.op("IsNaN", p), g.constFloat(0f), p);
    }
    if (castAround) {
      p = g.cast(p, ElementType.FLOAT);
    }
    if (dropout) {
      p = g.op("Dropout", p);
    }
    String o = g.op("MatMul", p, v);
    if (foldHeads) {
      String tail = g.op("Slice", g.op("Shape", o), g.constLongs(true, 1), g.constLongs(true, 3));
      o =
          g.op(
              "Reshape",
              o,
              g.op("Concat", List.of(g.constLongs(true, -1, heads), tail), intAttr("axis", 0)));
    }
    o = g.op("Transpose", List.of(o), intsAttr("perm", 0, 2, 1, 3));
    return g.op("Reshape", o, g.constLongs(true, 0, 0, heads * headDim));
  }

  private String mask(GraphBuilder g, String scores, String maskF) {
    switch (mask) {
      case NONE:
        return scores;
      case PADDING_ADD:
        {
          String add = g.op("Mul", g.op("Sub", g.constFloat(1f), maskF), g.constFloat(-1e9f));
          if (foldHeads) {
            throw new IllegalStateException("folded heads are built without a mask");
          }
          return g.op("Add", scores, g.unsqueeze(add, 1, 2));
        }
      case GPT2_WHERE_CAUSAL:
        {
          String causal = causal(g, scores);
          String masked = g.op("Where", causal, scores, g.constFloat(-3.4028234663852886e38f));
          String add = g.op("Mul", g.op("Sub", g.constFloat(1f), maskF), g.constFloat(-1e9f));
          return g.op("Add", masked, g.unsqueeze(add, 1, 2));
        }
      case SDPA_BOOL_WHERE_ADD:
        {
          String keep =
              g.op("And", causal(g, scores), g.unsqueeze(g.cast(maskF, ElementType.BOOL), 1, 2));
          String bias =
              g.op("Where", keep, g.constFloat(0f), g.constFloat(Float.NEGATIVE_INFINITY));
          return g.op("Add", scores, bias);
        }
      case GPT2_OLD_MULTIPLICATIVE:
        {
          if (!g.graph().getInitializerList().stream()
              .anyMatch(t -> t.getName().equals("attn.bias"))) {
            float[] tril = new float[64 * 64];
            for (int i = 0; i < 64; i++) {
              for (int j = 0; j <= i; j++) {
                tril[i * 64 + j] = 1f;
              }
            }
            g.graph().addInitializer(Tensors.floats("attn.bias", new long[] {1, 1, 64, 64}, tril));
          }
          String t =
              g.op("Gather", List.of(g.op("Shape", scores), g.constLong(-1)), intAttr("axis", 0));
          String t1 = g.unsqueeze(t, 0);
          String b =
              g.op(
                  "Slice",
                  "attn.bias",
                  g.constLongs(true, 0, 0),
                  g.op("Concat", List.of(t1, t1), intAttr("axis", 0)),
                  g.constLongs(true, 2, 3));
          String kept = g.op("Mul", scores, b);
          String masked =
              g.op("Sub", kept, g.op("Mul", g.constFloat(1e4f), g.op("Sub", g.constFloat(1f), b)));
          String add = g.op("Mul", g.op("Sub", g.constFloat(1f), maskF), g.constFloat(-1e9f));
          return g.op("Add", masked, g.unsqueeze(add, 1, 2));
        }
      default:
        throw new IllegalStateException();
    }
  }

  static final String FUNCTION_DOMAIN = "pkg.test";

  /** The model-local function of {@link #asFunction}: inputs q, k, v; output o; attribute scale. */
  private FunctionProto coreFunction() {
    NodeProto.Builder constant =
        NodeProto.newBuilder()
            .setOpType("Constant")
            .addOutput("scale_c")
            .addAttribute(
                AttributeProto.newBuilder()
                    .setName("value_float")
                    .setType(AttributeProto.AttributeType.FLOAT)
                    .setRefAttrName("scale"));
    return FunctionProto.newBuilder()
        .setName("SdpaCore")
        .setDomain(FUNCTION_DOMAIN)
        .addInput("q")
        .addInput("k")
        .addInput("v")
        .addOutput("o")
        .addAttribute("scale")
        .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(opset))
        .addNode(
            NodeProto.newBuilder()
                .setOpType("Transpose")
                .setName("kt")
                .addInput("k")
                .addOutput("kt")
                .addAttribute(intsAttr("perm", 0, 1, 3, 2)))
        .addNode(
            NodeProto.newBuilder()
                .setOpType("MatMul")
                .setName("qk")
                .addInput("q")
                .addInput("kt")
                .addOutput("raw"))
        .addNode(constant.setName("scale"))
        .addNode(
            NodeProto.newBuilder()
                .setOpType("Mul")
                .setName("scaled")
                .addInput("raw")
                .addInput("scale_c")
                .addOutput("scores"))
        .addNode(
            NodeProto.newBuilder()
                .setOpType("Softmax")
                .setName("softmax")
                .addInput("scores")
                .addOutput("p")
                .addAttribute(intAttr("axis", -1)))
        .addNode(
            NodeProto.newBuilder()
                .setOpType("MatMul")
                .setName("pv")
                .addInput("p")
                .addInput("v")
                .addOutput("o"))
        .build();
  }

  /** [1,1,T,T] bool: key j ≤ query i. */
  private static String causal(GraphBuilder g, String scores) {
    String t = g.op("Gather", List.of(g.op("Shape", scores), g.constLong(-1)), intAttr("axis", 0));
    String r = g.op("Range", g.constLong(0), t, g.constLong(1));
    return g.unsqueeze(g.lessOrEqual(g.unsqueeze(r, 0), g.unsqueeze(r, 1)), 0, 1);
  }

  /** [B,H,T,D] → [B·H,T,D]. */
  private static String fold(GraphBuilder g, String x) {
    String tail = g.op("Slice", g.op("Shape", x), g.constLongs(true, 2), g.constLongs(true, 4));
    return g.op(
        "Reshape", x, g.op("Concat", List.of(g.constLongs(true, -1), tail), intAttr("axis", 0)));
  }

  /** [B,T,n·D] → [B,n,T,D]. */
  private String heads(GraphBuilder g, String x, int n) {
    String r = g.op("Reshape", x, g.constLongs(true, 0, 0, n, headDim));
    return g.op("Transpose", List.of(r), intsAttr("perm", 0, 2, 1, 3));
  }

  /** repeat_kv as transformers exports it: Unsqueeze(2) → Expand → Reshape [B, H, T, D]. */
  private String repeatKv(GraphBuilder g, String kv) {
    String u = g.unsqueeze(kv, 2);
    String ex = g.op("Expand", u, g.constLongs(true, 1, 1, heads / kvHeads, 1, 1));
    return g.op("Reshape", ex, g.constLongs(true, 0, heads, -1, headDim));
  }

  private String weight(GraphBuilder g, String name, int rows, int cols) {
    float[] w = new float[rows * cols];
    for (int i = 0; i < w.length; i++) {
      w[i] = (float) (rnd.nextGaussian() * 0.5);
    }
    g.graph().addInitializer(Tensors.floats(name, new long[] {rows, cols}, w));
    return name;
  }

  static AttributeProto graphAttr(String name, GraphProto body) {
    return AttributeProto.newBuilder()
        .setName(name)
        .setType(AttributeProto.AttributeType.GRAPH)
        .setG(body)
        .build();
  }
}
