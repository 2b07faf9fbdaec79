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
import java.util.Random;

/**
 * Small decoders built with the project's graph code in the layouts real producers emit around fused attention ops;
 * random weights. {@link #gqa()}: ONNX Runtime GenAI's model builder (input_ids, attention_mask and per-layer
 * {@code past_key_values.l.key/value} in; logits and {@code present.l.key/value} out; seqlens_k and
 * total_sequence_length from the mask; SimplifiedLayerNormalization / SkipSimplifiedLayerNormalization; one packed
 * QKV MatMul per layer feeding {@code com.microsoft::GroupQueryAttention} with rotary inside the op and cos/sin caches
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
  /** ONNX element type of weights, activations and caches: 1 float, 10 float16, 16 bfloat16. */
  public int elemType = 1;
  /** One packed QKV projection (key and value inputs empty), as the model builder writes for CPU. */
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
    return elemType == 1 ? "" : elemType == 10 ? "_fp16" : "_bf16";
  }

  /** The model builder GQA decoder. */
  public ModelProto buildGqa() {
    GraphProto.Builder graph = GraphProto.newBuilder().setName("gqa_decoder" + typeName());
    GraphBuilder g = new GraphBuilder(graph, opset, "");
    current = graph;
    int hidden = heads * headDim;
    int kvDim = kvHeads * headDim;
    g.addInput("input_ids", GraphBuilder.INT64, "batch_size", "sequence_length");
    g.addInput("attention_mask", GraphBuilder.INT64, "batch_size", "total_sequence_length");
    for (int l = 0; l < layers; l++) {
      g.addInput("past_key_values." + l + ".key", elemType, "batch_size", String.valueOf(kvHeads),
          "past_sequence_length", String.valueOf(headDim));
      g.addInput("past_key_values." + l + ".value", elemType, "batch_size", String.valueOf(kvHeads),
          "past_sequence_length", String.valueOf(headDim));
    }
    // attn_mask_reformat: seqlens_k = ReduceSum(mask) − 1 (int32), total_sequence_length = Shape(mask)[1] (int32)
    String sum = g.reduceSum("attention_mask", false, 1);
    String seqlens = g.cast(g.op("Sub", sum, g.constLong(1)), 6);
    String total = g.cast(g.op("Gather", List.of(g.op("Shape", "attention_mask"), g.constLong(1)),
        intAttr("axis", 0)), 6);
    int r = rotaryDim > 0 ? rotaryDim : headDim;
    float[][] cs = rotaryCaches(r);
    graph.addInitializer(tensor("cos_cache", new long[] {maxPositions, r / 2}, cs[0]));
    graph.addInitializer(tensor("sin_cache", new long[] {maxPositions, r / 2}, cs[1]));
    String x = g.op("Gather", List.of(weight("model.embed_tokens.weight", vocab, hidden), "input_ids"),
        intAttr("axis", 0));
    String residual = null;
    String mlpOut = null;
    for (int l = 0; l < layers; l++) {
      String pre = "/model/layers." + l;
      String normed;
      if (l == 0) {
        normed = g.fresh("norm");
        node(g, "SimplifiedLayerNormalization", "", pre + "/input_layernorm/LayerNorm",
            List.of(x, ones("model.layers." + l + ".input_layernorm.weight", hidden)), List.of(normed),
            intAttr("axis", -1), floatAttr("epsilon", 1e-5f));
        residual = x;
      } else {
        normed = g.fresh("norm");
        String sumOut = g.fresh("skip_sum");
        node(g, "SkipSimplifiedLayerNormalization", "com.microsoft", pre + "/input_layernorm/SkipLayerNorm",
            List.of(mlpOut, residual, ones("model.layers." + l + ".input_layernorm.weight", hidden)),
            List.of(normed, "", "", sumOut), floatAttr("epsilon", 1e-5f));
        residual = sumOut;
      }
      String attnIn;
      List<String> qkvInputs = new ArrayList<>();
      if (packedQkv) {
        attnIn = g.op("MatMul", normed, weight("model.layers." + l + ".attn.qkv_proj.weight", hidden,
            hidden + 2 * kvDim));
        qkvInputs.addAll(List.of(attnIn, "", ""));
      } else {
        qkvInputs.add(g.op("MatMul", normed, weight("model.layers." + l + ".attn.q_proj.weight", hidden, hidden)));
        qkvInputs.add(g.op("MatMul", normed, weight("model.layers." + l + ".attn.k_proj.weight", hidden, kvDim)));
        qkvInputs.add(g.op("MatMul", normed, weight("model.layers." + l + ".attn.v_proj.weight", hidden, kvDim)));
      }
      List<String> in = new ArrayList<>(qkvInputs);
      in.addAll(List.of("past_key_values." + l + ".key", "past_key_values." + l + ".value", seqlens, total,
          "cos_cache", "sin_cache"));
      String attnOut = g.fresh("attn");
      List<AttributeProto> attrs = new ArrayList<>(List.of(intAttr("num_heads", heads),
          intAttr("kv_num_heads", kvHeads), intAttr("do_rotary", 1), intAttr("rotary_interleaved",
              interleaved ? 1 : 0), intAttr("local_window_size", localWindow)));
      if (softcap > 0) {
        attrs.add(floatAttr("softcap", softcap));
      }
      attrs.addAll(extraAttributes);
      node(g, "GroupQueryAttention", "com.microsoft", pre + "/attn/GroupQueryAttention", in,
          List.of(attnOut, "present." + l + ".key", "present." + l + ".value"),
          attrs.toArray(new AttributeProto[0]));
      String o = g.op("MatMul", attnOut, weight("model.layers." + l + ".attn.o_proj.weight", hidden, hidden));
      String normed2 = g.fresh("norm");
      String sum2 = g.fresh("skip_sum");
      node(g, "SkipSimplifiedLayerNormalization", "com.microsoft", pre + "/post_attention_layernorm/SkipLayerNorm",
          List.of(o, residual, ones("model.layers." + l + ".post_attention_layernorm.weight", hidden)),
          List.of(normed2, "", "", sum2), floatAttr("epsilon", 1e-5f));
      residual = sum2;
      String gate = g.op("MatMul", normed2, weight("model.layers." + l + ".mlp.gate_proj.weight", hidden,
          intermediate));
      String up = g.op("MatMul", normed2, weight("model.layers." + l + ".mlp.up_proj.weight", hidden, intermediate));
      String act = g.op("Mul", gate, g.op("Sigmoid", gate));
      mlpOut = g.op("MatMul", g.op("Mul", act, up), weight("model.layers." + l + ".mlp.down_proj.weight",
          intermediate, hidden));
    }
    String finalNorm = g.fresh("norm");
    node(g, "SkipSimplifiedLayerNormalization", "com.microsoft", "/model/norm/SkipLayerNorm",
        List.of(mlpOut, residual, ones("model.norm.weight", hidden)), List.of(finalNorm), floatAttr("epsilon",
            1e-5f));
    g.op("MatMul", List.of(finalNorm, weight("lm_head.weight", hidden, vocab)), List.of("logits"));
    g.addOutput("logits", elemType, "batch_size", "sequence_length", String.valueOf(vocab));
    for (int l = 0; l < layers; l++) {
      g.addOutput("present." + l + ".key", elemType, "batch_size", String.valueOf(kvHeads),
          "total_sequence_length", String.valueOf(headDim));
      g.addOutput("present." + l + ".value", elemType, "batch_size", String.valueOf(kvHeads),
          "total_sequence_length", String.valueOf(headDim));
    }
    return ModelProto.newBuilder().setIrVersion(10).setProducerName("onnxruntime-genai (headwise test fixture)")
        .setGraph(graph)
        .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(opset))
        .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("com.microsoft").setVersion(1)).build();
  }

  /** Writes {@code proto} to {@code dir/name} and loads it by path. */
  public static OnnxModel write(ModelProto proto, Path dir, String name) throws IOException {
    Path p = dir.resolve(name);
    try (OutputStream out = Files.newOutputStream(p)) {
      proto.writeTo(out);
    }
    return OnnxModel.load(p);
  }

  private static void node(GraphBuilder g, String op, String domain, String name, List<String> inputs,
      List<String> outputs, AttributeProto... attrs) {
    NodeProto.Builder n = NodeProto.newBuilder().setOpType(op).setDomain(domain).setName(name).addAllInput(inputs)
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
    if (elemType == 1) {
      return Tensors.floats(name, dims, values);
    }
    ByteBuffer b = ByteBuffer.allocate(2 * values.length).order(ByteOrder.LITTLE_ENDIAN);
    for (float v : values) {
      int bits = Float.floatToIntBits(v);
      b.putShort(elemType == 10 ? toHalf(v) : (short) ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16));
    }
    TensorProto.Builder t = TensorProto.newBuilder().setName(name).setDataType(elemType)
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
