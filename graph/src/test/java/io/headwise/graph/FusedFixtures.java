package io.headwise.graph;

import static io.headwise.graph.GraphBuilder.floatAttr;
import static io.headwise.graph.GraphBuilder.intAttr;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import com.google.protobuf.ByteString;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;

/**
 * Small decoders built with the project's graph code in the layouts real producers emit around
 * fused attention ops; random weights. {@link #gqa()}: ONNX Runtime GenAI's model builder
 * (input_ids, attention_mask and per-layer {@code past_key_values.l.key/value} in; logits and
 * {@code present.l.key/value} out; seqlens_k and total_sequence_length from the mask;
 * SimplifiedLayerNormalization / SkipSimplifiedLayerNormalization; one packed QKV MatMul per layer
 * feeding {@code com.microsoft::GroupQueryAttention} with rotary inside the op and cos/sin caches
 * as initializers; SwiGLU MLP; tied nothing).
 */
public final class FusedFixtures {
  public int opset = 21;
  public int layers = 2;
  public int heads = 4;
  public int kvHeads = 2;
  public int headDim = 16;
  public int vocab = 48;
  public int intermediate = 40;
  public int maxPositions = 64;

  /** Element type of weights, activations and caches: float, float16 or bfloat16. */
  public ElementType elemType = ElementType.FLOAT;

  /**
   * One packed QKV projection (key and value inputs empty), as the model builder writes for CPU.
   */
  public boolean packedQkv = true;

  public boolean interleaved;

  /** local_window_size (−1: none). */
  public long localWindow = -1;

  public float softcap;

  /** Extra attributes set on every fused node (for refusal tests). */
  public List<AttributeProto> extraAttributes = new ArrayList<>();

  /** Rotary dims (r ≤ headDim; the rest pass through). */
  public int rotaryDim = -1;

  private final Random rnd = new Random(11);

  public static FusedFixtures gqa() {
    return new FusedFixtures();
  }

  private String typeName() {
    return elemType == ElementType.FLOAT ? "" : elemType == ElementType.FLOAT16 ? "_fp16" : "_bf16";
  }

  /** The model builder GQA decoder. */
  public ModelProto buildGqa() {
    GraphProto.Builder graph = GraphProto.newBuilder().setName("gqa_decoder" + typeName());
    GraphBuilder g = new GraphBuilder(graph, opset, "");
    current = graph;
    int hidden = heads * headDim;
    int kvDim = kvHeads * headDim;
    g.addInput("input_ids", ElementType.INT64, "batch_size", "sequence_length");
    g.addInput("attention_mask", ElementType.INT64, "batch_size", "total_sequence_length");
    for (int l = 0; l < layers; l++) {
      g.addInput(
          "past_key_values." + l + ".key",
          elemType,
          "batch_size",
          String.valueOf(kvHeads),
          "past_sequence_length",
          String.valueOf(headDim));
      g.addInput(
          "past_key_values." + l + ".value",
          elemType,
          "batch_size",
          String.valueOf(kvHeads),
          "past_sequence_length",
          String.valueOf(headDim));
    }
    // attn_mask_reformat: seqlens_k = ReduceSum(mask) − 1 (int32), total_sequence_length =
    // Shape(mask)[1] (int32)
    String sum = g.reduceSum("attention_mask", false, 1);
    String seqlens = g.cast(g.op("Sub", sum, g.constLong(1)), ElementType.INT32);
    String total =
        g.cast(
            g.op(
                "Gather",
                List.of(g.op("Shape", "attention_mask"), g.constLong(1)),
                intAttr("axis", 0)),
            ElementType.INT32);
    int r = rotaryDim > 0 ? rotaryDim : headDim;
    float[][] cs = rotaryCaches(r);
    graph.addInitializer(tensor("cos_cache", new long[] {maxPositions, r / 2}, cs[0]));
    graph.addInitializer(tensor("sin_cache", new long[] {maxPositions, r / 2}, cs[1]));
    String x =
        g.op(
            "Gather",
            List.of(weight("model.embed_tokens.weight", vocab, hidden), "input_ids"),
            intAttr("axis", 0));
    String residual = null;
    String mlpOut = null;
    for (int l = 0; l < layers; l++) {
      String pre = "/model/layers." + l;
      String normed;
      if (l == 0) {
        normed = g.fresh("norm");
        node(
            g,
            "SimplifiedLayerNormalization",
            "",
            pre + "/input_layernorm/LayerNorm",
            List.of(x, ones("model.layers." + l + ".input_layernorm.weight", hidden)),
            List.of(normed),
            intAttr("axis", -1),
            floatAttr("epsilon", 1e-5f));
        residual = x;
      } else {
        normed = g.fresh("norm");
        String sumOut = g.fresh("skip_sum");
        node(
            g,
            "SkipSimplifiedLayerNormalization",
            "com.microsoft",
            pre + "/input_layernorm/SkipLayerNorm",
            List.of(
                mlpOut, residual, ones("model.layers." + l + ".input_layernorm.weight", hidden)),
            List.of(normed, "", "", sumOut),
            floatAttr("epsilon", 1e-5f));
        residual = sumOut;
      }
      String attnIn;
      List<String> qkvInputs = new ArrayList<>();
      if (packedQkv) {
        attnIn =
            g.op(
                "MatMul",
                normed,
                weight("model.layers." + l + ".attn.qkv_proj.weight", hidden, hidden + 2 * kvDim));
        qkvInputs.addAll(List.of(attnIn, "", ""));
      } else {
        qkvInputs.add(
            g.op(
                "MatMul",
                normed,
                weight("model.layers." + l + ".attn.q_proj.weight", hidden, hidden)));
        qkvInputs.add(
            g.op(
                "MatMul",
                normed,
                weight("model.layers." + l + ".attn.k_proj.weight", hidden, kvDim)));
        qkvInputs.add(
            g.op(
                "MatMul",
                normed,
                weight("model.layers." + l + ".attn.v_proj.weight", hidden, kvDim)));
      }
      List<String> in = new ArrayList<>(qkvInputs);
      in.addAll(
          List.of(
              "past_key_values." + l + ".key",
              "past_key_values." + l + ".value",
              seqlens,
              total,
              "cos_cache",
              "sin_cache"));
      String attnOut = g.fresh("attn");
      List<AttributeProto> attrs =
          new ArrayList<>(
              List.of(
                  intAttr("num_heads", heads),
                  intAttr("kv_num_heads", kvHeads),
                  intAttr("do_rotary", 1),
                  intAttr("rotary_interleaved", interleaved ? 1 : 0),
                  intAttr("local_window_size", localWindow)));
      if (softcap > 0) {
        attrs.add(floatAttr("softcap", softcap));
      }
      attrs.addAll(extraAttributes);
      node(
          g,
          "GroupQueryAttention",
          "com.microsoft",
          pre + "/attn/GroupQueryAttention",
          in,
          List.of(attnOut, "present." + l + ".key", "present." + l + ".value"),
          attrs.toArray(new AttributeProto[0]));
      String o =
          g.op(
              "MatMul",
              attnOut,
              weight("model.layers." + l + ".attn.o_proj.weight", hidden, hidden));
      String normed2 = g.fresh("norm");
      String sum2 = g.fresh("skip_sum");
      node(
          g,
          "SkipSimplifiedLayerNormalization",
          "com.microsoft",
          pre + "/post_attention_layernorm/SkipLayerNorm",
          List.of(
              o, residual, ones("model.layers." + l + ".post_attention_layernorm.weight", hidden)),
          List.of(normed2, "", "", sum2),
          floatAttr("epsilon", 1e-5f));
      residual = sum2;
      String gate =
          g.op(
              "MatMul",
              normed2,
              weight("model.layers." + l + ".mlp.gate_proj.weight", hidden, intermediate));
      String up =
          g.op(
              "MatMul",
              normed2,
              weight("model.layers." + l + ".mlp.up_proj.weight", hidden, intermediate));
      String act = g.op("Mul", gate, g.op("Sigmoid", gate));
      mlpOut =
          g.op(
              "MatMul",
              g.op("Mul", act, up),
              weight("model.layers." + l + ".mlp.down_proj.weight", intermediate, hidden));
    }
    String finalNorm = g.fresh("norm");
    node(
        g,
        "SkipSimplifiedLayerNormalization",
        "com.microsoft",
        "/model/norm/SkipLayerNorm",
        List.of(mlpOut, residual, ones("model.norm.weight", hidden)),
        List.of(finalNorm),
        floatAttr("epsilon", 1e-5f));
    g.op("MatMul", List.of(finalNorm, weight("lm_head.weight", hidden, vocab)), List.of("logits"));
    g.addOutput("logits", elemType, "batch_size", "sequence_length", String.valueOf(vocab));
    for (int l = 0; l < layers; l++) {
      g.addOutput(
          "present." + l + ".key",
          elemType,
          "batch_size",
          String.valueOf(kvHeads),
          "total_sequence_length",
          String.valueOf(headDim));
      g.addOutput(
          "present." + l + ".value",
          elemType,
          "batch_size",
          String.valueOf(kvHeads),
          "total_sequence_length",
          String.valueOf(headDim));
    }
    return ModelProto.newBuilder()
        .setIrVersion(10)
        .setProducerName("onnxruntime-genai (headwise test fixture)")
        .setGraph(graph)
        .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(opset))
        .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("com.microsoft").setVersion(1))
        .build();
  }

  /**
   * ONNX Runtime transformer-optimizer layouts around {@code com.microsoft} Attention /
   * MultiHeadAttention.
   */
  public enum OrtLayout {
    /** BERT encoder: Attention(input, weights, bias, mask_index [B] = valid lengths). */
    ATTENTION_ENCODER,
    /** BERT encoder with the raw [B, T] int32 mask as mask_index. */
    ATTENTION_ENCODER_RAW_MASK,
    /**
     * GPT-2 decoder: Attention(unidirectional=1, raw mask [B, P+S], past [2, B, H, P, D]) with
     * present outputs.
     */
    ATTENTION_DECODER,
    /**
     * Encoder with separate Q/K/V MatMuls into MultiHeadAttention(q, k, v, bias, key_padding_mask
     * [B, T]).
     */
    MHA_ENCODER
  }

  /**
   * A model in one of the ONNX Runtime transformer-optimizer layouts (2 layers by default, {@link
   * #heads} heads).
   */
  public ModelProto buildOrt(OrtLayout layout) {
    boolean decoder = layout == OrtLayout.ATTENTION_DECODER;
    GraphProto.Builder graph =
        GraphProto.newBuilder().setName(layout.name().toLowerCase(Locale.ROOT));
    int op = 17;
    GraphBuilder g = new GraphBuilder(graph, op, "");
    current = graph;
    int hidden = heads * headDim;
    g.addInput("input_ids", ElementType.INT64, "batch_size", "sequence_length");
    g.addInput(
        "attention_mask",
        ElementType.INT64,
        "batch_size",
        decoder ? "total_sequence_length" : "sequence_length");
    if (decoder) {
      for (int l = 0; l < layers; l++) {
        g.addInput(
            "past_" + l,
            elemType,
            "2",
            "batch_size",
            String.valueOf(heads),
            "past_sequence_length",
            String.valueOf(headDim));
      }
    }
    String seq = g.dim(g.op("Shape", "input_ids"), 1);
    String start = decoder ? g.dim(g.op("Shape", "past_0"), 3) : g.constLongs(true, 0);
    String pos =
        g.op("Range", g.squeeze(start, 0), g.squeeze(g.op("Add", start, seq), 0), g.constLong(1));
    String x =
        g.op(
            "Add",
            g.op(
                "Gather",
                List.of(weight("embeddings.word", vocab, hidden), "input_ids"),
                intAttr("axis", 0)),
            g.op(
                "Gather",
                List.of(weight("embeddings.position", maxPositions, hidden), pos),
                intAttr("axis", 0)));
    x = layerNorm(g, x, "embeddings.LayerNorm", hidden);
    String maskIndex;
    switch (layout) {
      case ATTENTION_ENCODER:
        maskIndex = g.cast(g.reduceSum("attention_mask", false, 1), ElementType.INT32);
        break;
      default:
        maskIndex = g.cast("attention_mask", ElementType.INT32);
    }
    for (int l = 0; l < layers; l++) {
      String pre = "encoder.layer." + l + ".";
      String h = decoder ? layerNorm(g, x, pre + "ln_1", hidden) : x;
      String attn = g.fresh("attn");
      if (layout == OrtLayout.MHA_ENCODER) {
        String q = g.op("MatMul", h, weight(pre + "attention.query.weight", hidden, hidden));
        String k = g.op("MatMul", h, weight(pre + "attention.key.weight", hidden, hidden));
        String v = g.op("MatMul", h, weight(pre + "attention.value.weight", hidden, hidden));
        node(
            g,
            "MultiHeadAttention",
            "com.microsoft",
            "MultiHeadAttention_" + l,
            List.of(q, k, v, bias(pre + "attention.qkv.bias", 3 * hidden), maskIndex),
            List.of(attn),
            intAttr("num_heads", heads));
      } else {
        List<String> in =
            new ArrayList<>(
                List.of(
                    h,
                    weight(pre + "attention.qkv.weight", hidden, 3 * hidden),
                    bias(pre + "attention.qkv.bias", 3 * hidden),
                    maskIndex));
        List<String> out = new ArrayList<>(List.of(attn));
        if (decoder) {
          in.add("past_" + l);
          out.add("present_" + l);
        }
        List<AttributeProto> attrs = new ArrayList<>(List.of(intAttr("num_heads", heads)));
        if (decoder) {
          attrs.add(intAttr("unidirectional", 1));
        }
        attrs.addAll(extraAttributes);
        node(
            g,
            "Attention",
            "com.microsoft",
            (decoder ? "GptAttention_" : "Attention_") + l,
            in,
            out,
            attrs.toArray(new AttributeProto[0]));
      }
      String o =
          g.op(
              "Add",
              g.op("MatMul", attn, weight(pre + "attention.output.weight", hidden, hidden)),
              bias(pre + "attention.output.bias", hidden));
      x = g.op("Add", x, o);
      if (!decoder) {
        x = layerNorm(g, x, pre + "attention.output.LayerNorm", hidden);
      }
      String h2 = decoder ? layerNorm(g, x, pre + "ln_2", hidden) : x;
      String ff = g.fresh("gelu");
      node(
          g,
          "Gelu",
          "com.microsoft",
          pre + "intermediate.Gelu",
          List.of(g.op("MatMul", h2, weight(pre + "intermediate.weight", hidden, intermediate))),
          List.of(ff));
      x = g.op("Add", x, g.op("MatMul", ff, weight(pre + "output.weight", intermediate, hidden)));
      if (!decoder) {
        x = layerNorm(g, x, pre + "output.LayerNorm", hidden);
      }
    }
    if (decoder) {
      g.op(
          "MatMul",
          List.of(layerNorm(g, x, "ln_f", hidden), weight("lm_head.weight", hidden, vocab)),
          List.of("logits"));
      g.addOutput("logits", elemType, "batch_size", "sequence_length", String.valueOf(vocab));
      for (int l = 0; l < layers; l++) {
        g.addOutput(
            "present_" + l,
            elemType,
            "2",
            "batch_size",
            String.valueOf(heads),
            "total_sequence_length",
            String.valueOf(headDim));
      }
    } else {
      g.identity(x, "last_hidden_state");
      g.addOutput(
          "last_hidden_state", elemType, "batch_size", "sequence_length", String.valueOf(hidden));
    }
    return ModelProto.newBuilder()
        .setIrVersion(8)
        .setProducerName("onnxruntime.transformers (headwise test fixture)")
        .setGraph(graph)
        .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(op))
        .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("com.microsoft").setVersion(1))
        .build();
  }

  /**
   * A Llama-style decoder at opset 23 as the dynamo exporter writes SDPA: Q/K/V projections, heads
   * split, {@code RotaryEmbedding} (cos/sin caches and position_ids), then ONNX {@code Attention}
   * with a boolean padding mask [B, 1, S, T], {@code is_causal=1} and past/present key and value;
   * with {@code threeD} the op takes [B, S, H·D] inputs and the q_num_heads/kv_num_heads attributes
   * (GQA through kv_num_heads) instead of 4-D heads.
   */
  public ModelProto buildOnnxAttention(boolean threeD) {
    GraphProto.Builder graph = GraphProto.newBuilder().setName("onnx_attention_decoder");
    int op = 23;
    GraphBuilder g = new GraphBuilder(graph, op, "");
    current = graph;
    int hidden = heads * headDim;
    int kvDim = kvHeads * headDim;
    g.addInput("input_ids", ElementType.INT64, "batch_size", "sequence_length");
    g.addInput("attention_mask", ElementType.INT64, "batch_size", "total_sequence_length");
    g.addInput("position_ids", ElementType.INT64, "batch_size", "sequence_length");
    for (int l = 0; l < layers; l++) {
      for (String kv : new String[] {"key", "value"}) {
        g.addInput(
            "past_key_values." + l + "." + kv,
            elemType,
            "batch_size",
            String.valueOf(kvHeads),
            "past_sequence_length",
            String.valueOf(headDim));
      }
    }
    float[][] cs = rotaryCaches(headDim);
    graph.addInitializer(tensor("cos_cache", new long[] {maxPositions, headDim / 2}, cs[0]));
    graph.addInitializer(tensor("sin_cache", new long[] {maxPositions, headDim / 2}, cs[1]));
    // [B, 1, S, T]: ONNX Runtime's kernel wants the mask's query dim spelled out (no broadcast
    // there)
    String rows =
        g.op(
            "Concat",
            List.of(
                g.constLongs(true, 1, 1),
                g.dim(g.op("Shape", "input_ids"), 1),
                g.constLongs(true, 1)),
            intAttr("axis", 0));
    String padding =
        g.op("Expand", g.unsqueeze(g.cast("attention_mask", ElementType.BOOL), 1, 2), rows);
    String x =
        g.op(
            "Gather",
            List.of(weight("model.embed_tokens.weight", vocab, hidden), "input_ids"),
            intAttr("axis", 0));
    for (int l = 0; l < layers; l++) {
      String pre = "model.layers." + l + ".";
      String h =
          g.op(
              "RMSNormalization",
              List.of(x, ones(pre + "input_layernorm.weight", hidden)),
              floatAttr("epsilon", 1e-5f));
      String q = g.op("MatMul", h, weight(pre + "self_attn.q_proj.weight", hidden, hidden));
      String k = g.op("MatMul", h, weight(pre + "self_attn.k_proj.weight", hidden, kvDim));
      String v = g.op("MatMul", h, weight(pre + "self_attn.v_proj.weight", hidden, kvDim));
      q = rope(g, heads4(g, q, heads), "position_ids");
      k = rope(g, heads4(g, k, kvHeads), "position_ids");
      v = heads4(g, v, kvHeads);
      if (threeD) {
        q = merge(g, q);
        k = merge(g, k);
        v = merge(g, v);
      }
      String y = g.fresh("sdpa");
      List<AttributeProto> attrs = new ArrayList<>(List.of(intAttr("is_causal", 1)));
      if (threeD) {
        attrs.add(intAttr("q_num_heads", heads));
        attrs.add(intAttr("kv_num_heads", kvHeads));
      }
      attrs.addAll(extraAttributes);
      node(
          g,
          "Attention",
          "",
          "node_scaled_dot_product_attention" + (l == 0 ? "" : "_" + l),
          List.of(
              q, k, v, padding, "past_key_values." + l + ".key", "past_key_values." + l + ".value"),
          List.of(y, "present." + l + ".key", "present." + l + ".value"),
          attrs.toArray(new AttributeProto[0]));
      String o = threeD ? y : merge(g, y);
      x =
          g.op(
              "Add", x, g.op("MatMul", o, weight(pre + "self_attn.o_proj.weight", hidden, hidden)));
      String h2 =
          g.op(
              "RMSNormalization",
              List.of(x, ones(pre + "post_attention_layernorm.weight", hidden)),
              floatAttr("epsilon", 1e-5f));
      String gate = g.op("MatMul", h2, weight(pre + "mlp.gate_proj.weight", hidden, intermediate));
      String up = g.op("MatMul", h2, weight(pre + "mlp.up_proj.weight", hidden, intermediate));
      x =
          g.op(
              "Add",
              x,
              g.op(
                  "MatMul",
                  g.op("Mul", g.op("Mul", gate, g.op("Sigmoid", gate)), up),
                  weight(pre + "mlp.down_proj.weight", intermediate, hidden)));
    }
    String fin =
        g.op(
            "RMSNormalization",
            List.of(x, ones("model.norm.weight", hidden)),
            floatAttr("epsilon", 1e-5f));
    g.op("MatMul", List.of(fin, weight("lm_head.weight", hidden, vocab)), List.of("logits"));
    g.addOutput("logits", elemType, "batch_size", "sequence_length", String.valueOf(vocab));
    for (int l = 0; l < layers; l++) {
      for (String kv : new String[] {"key", "value"}) {
        g.addOutput(
            "present." + l + "." + kv,
            elemType,
            "batch_size",
            String.valueOf(kvHeads),
            "total_sequence_length",
            String.valueOf(headDim));
      }
    }
    return ModelProto.newBuilder()
        .setIrVersion(11)
        .setProducerName("pytorch (headwise test fixture)")
        .setGraph(graph)
        .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(op))
        .build();
  }

  private String heads4(GraphBuilder g, String x, int n) {
    return g.op(
        "Transpose",
        List.of(g.op("Reshape", x, g.constLongs(true, 0, 0, n, headDim))),
        GraphBuilder.intsAttr("perm", 0, 2, 1, 3));
  }

  private static String merge(GraphBuilder g, String x) {
    return g.op(
        "Reshape",
        g.op("Transpose", List.of(x), GraphBuilder.intsAttr("perm", 0, 2, 1, 3)),
        g.constLongs(true, 0, 0, -1));
  }

  private static String rope(GraphBuilder g, String x, String positions) {
    return g.op("RotaryEmbedding", x, "cos_cache", "sin_cache", positions);
  }

  private String layerNorm(GraphBuilder g, String x, String name, int n) {
    return g.op(
        "LayerNormalization",
        List.of(x, ones(name + ".weight", n), bias(name + ".bias", n)),
        intAttr("axis", -1),
        floatAttr("epsilon", 1e-5f));
  }

  private String bias(String name, int n) {
    float[] w = new float[n];
    for (int i = 0; i < n; i++) {
      w[i] = (float) (0.1 * rnd.nextGaussian());
    }
    current.addInitializer(tensor(name, new long[] {n}, w));
    return name;
  }

  /** Writes {@code proto} to {@code dir/name} and loads it by path. */
  public static OnnxModel write(ModelProto proto, Path dir, String name) throws IOException {
    Path p = dir.resolve(name);
    try (OutputStream out = Files.newOutputStream(p)) {
      proto.writeTo(out);
    }
    return OnnxModel.load(p);
  }

  private static void node(
      GraphBuilder g,
      String op,
      String domain,
      String name,
      List<String> inputs,
      List<String> outputs,
      AttributeProto... attrs) {
    NodeProto.Builder n =
        NodeProto.newBuilder()
            .setOpType(op)
            .setDomain(domain)
            .setName(name)
            .addAllInput(inputs)
            .addAllOutput(outputs);
    for (AttributeProto a : attrs) {
      n.addAttribute(a);
    }
    g.graph().addNode(n);
  }

  private float[][] rotaryCaches(int r) {
    float[] cos = new float[maxPositions * r / 2];
    float[] sin = new float[maxPositions * r / 2];
    for (int p = 0; p < maxPositions; p++) {
      for (int i = 0; i < r / 2; i++) {
        double f = p * Math.pow(10000, -2.0 * i / r);
        cos[p * r / 2 + i] = (float) Math.cos(f);
        sin[p * r / 2 + i] = (float) Math.sin(f);
      }
    }
    return new float[][] {cos, sin};
  }

  private String weight(String name, int rows, int cols) {
    float[] w = new float[rows * cols];
    double sd = 1.0 / Math.sqrt(rows);
    for (int i = 0; i < w.length; i++) {
      w[i] = (float) (rnd.nextGaussian() * sd * (name.contains("embed") ? Math.sqrt(rows) : 1.5));
    }
    current.addInitializer(tensor(name, new long[] {rows, cols}, w));
    return name;
  }

  private String ones(String name, int n) {
    float[] w = new float[n];
    for (int i = 0; i < n; i++) {
      w[i] = (float) (1 + 0.1 * rnd.nextGaussian());
    }
    current.addInitializer(tensor(name, new long[] {n}, w));
    return name;
  }

  private GraphProto.Builder current;

  /** A tensor in this fixture's element type. */
  TensorProto tensor(String name, long[] dims, float[] values) {
    if (elemType == ElementType.FLOAT) {
      return Tensors.floats(name, dims, values);
    }
    ByteBuffer b = ByteBuffer.allocate(2 * values.length).order(ByteOrder.LITTLE_ENDIAN);
    for (float v : values) {
      int bits = Float.floatToIntBits(v);
      b.putShort(
          elemType == ElementType.FLOAT16
              ? toHalf(v)
              : (short) ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16));
    }
    TensorProto.Builder t =
        TensorProto.newBuilder()
            .setName(name)
            .setDataType(elemType.code())
            .setRawData(ByteString.copyFrom(b.array()));
    for (long d : dims) {
      t.addDims(d);
    }
    return t.build();
  }

  /** IEEE half (round to nearest even) of a float in the normal half range. */
  static short toHalf(float f) {
    int bits = Float.floatToIntBits(f);
    int sign = (bits >>> 16) & 0x8000;
    int exp = ((bits >>> 23) & 0xff) - 127 + 15;
    int mant = bits & 0x7fffff;
    if (exp <= 0) {
      if (exp < -10) {
        return (short) sign;
      }
      mant |= 0x800000;
      int shift = 14 - exp;
      int half = mant >> shift;
      int rem = mant & ((1 << shift) - 1);
      int mid = 1 << (shift - 1);
      if (rem > mid || rem == mid && (half & 1) == 1) {
        half++;
      }
      return (short) (sign | half);
    }
    if (exp >= 31) {
      return (short) (sign | 0x7c00);
    }
    int half = (exp << 10) | (mant >> 13);
    int rem = mant & 0x1fff;
    if (rem > 0x1000 || rem == 0x1000 && (half & 1) == 1) {
      half++;
    }
    return (short) (sign | half);
  }
}
