package io.headwise.graph.synth;

import static io.headwise.graph.GraphBuilder.intAttr;
import static io.headwise.graph.GraphBuilder.intsAttr;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import com.google.protobuf.ByteString;
import io.headwise.graph.AtomicFiles;
import io.headwise.graph.ElementType;
import io.headwise.graph.GraphBuilder;
import io.headwise.graph.Tensors;
import io.headwise.schemas.HeadwiseException;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Writes a Llama-architecture decoder with random weights in the node layout of a {@code
 * torch.onnx} (TorchScript) export of Hugging Face's {@code LlamaForCausalLM} with eager attention,
 * opset 17: token embedding Gather; RoPE cos/sin from {@code inv_freq ⊗ positions}; a [batch, 1,
 * queries, keys] additive mask ({@code Where} of causal {@code LessOrEqual} and the padding mask to
 * 0 / the dtype's lowest value); per layer RMSNorm in float32 (Pow, ReduceMean, Add ε, Sqrt, Div,
 * Mul, Cast back, Mul weight), q/k/v MatMuls on transposed Linear weights, Reshape/Transpose to
 * heads, rotate-half RoPE (Slice, Neg, Concat), GQA {@code repeat_kv} (Unsqueeze, Expand, Reshape),
 * {@code MatMul(Q, Kᵀ)}, Mul by 1/√d, Add mask, Softmax, Cast, Cast, {@code MatMul(P, V)}, o_proj,
 * residual Add, SwiGLU MLP (gate MatMul, Sigmoid, Mul, up MatMul, Mul, down MatMul), residual Add;
 * final RMSNorm and an untied LM head ({@code logits}). With {@code withPast} the inputs and
 * outputs are the Optimum "with past" ones ({@code position_ids}, {@code
 * past_key_values.L.key/value}, {@code present.L.key/value}).
 *
 * <p>Weights go to one external-data file next to the model as they are generated ({@link
 * ExternalDataWriter}); the heap holds only the graph. Linear weights are uniform with standard
 * deviation 1/√fan_in (scale-free: attention logits stay O(1) at every hidden size), embeddings
 * with standard deviation 1, norm weights are 1.
 */
public final class SyntheticLlama {
  public static final int OPSET = 17;
  private static final ElementType FLOAT = ElementType.FLOAT;
  private static final ElementType BOOL = ElementType.BOOL;

  /** What was written. */
  public record Written(Path model, Path data, long dataBytes, long parameters) {}

  private final SynthSpec spec;
  private final SynthShape s;
  private final GraphProto.Builder graph = GraphProto.newBuilder().setName("main_graph");
  private final ExternalDataWriter data;
  private final SplittableRandom rng;
  private int weightCounter;

  private SyntheticLlama(SynthSpec spec, ExternalDataWriter data) {
    this.spec = spec;
    this.s = spec.shape();
    this.data = data;
    this.rng = new SplittableRandom(spec.seed());
  }

  /** The external-data file name used for a model written to {@code model}. */
  public static String dataLocation(Path model) {
    return model.getFileName().toString() + ".data";
  }

  /**
   * Writes the model to {@code out} and its weights to {@code out.data}. Both are written to
   * temporary files in the same directory and moved into place at the end, so a failure leaves
   * neither.
   */
  public static Written write(SynthSpec spec, Path out) {
    Path target = out.toAbsolutePath().normalize();
    Path dir = target.getParent();
    if (dir == null || !Files.isDirectory(dir)) {
      throw new HeadwiseException("output directory does not exist: " + (dir == null ? out : dir));
    }
    if (Files.isDirectory(target)) {
      throw new HeadwiseException("--out is a directory, not an .onnx file path: " + out);
    }
    String location = dataLocation(target);
    Path dataTarget = dir.resolve(location);
    // data first, then the model that references it: a reader never finds a model without its data
    try (AtomicFiles.Staged staged = AtomicFiles.Staged.next(target)) {
      Path tmpData = staged.file(location);
      Path tmpModel = staged.file(target.getFileName().toString());
      ModelProto model;
      long bytes;
      ExternalDataWriter w = new ExternalDataWriter(tmpData, location);
      try (w) {
        model = new SyntheticLlama(spec, w).build();
      }
      bytes = w.size(); // after close: every weight flushed
      try (OutputStream os = new BufferedOutputStream(Files.newOutputStream(tmpModel), 1 << 16)) {
        model.writeTo(os);
      }
      staged.commit();
      return new Written(target, dataTarget, bytes, spec.parameters());
    } catch (IOException e) {
      throw new HeadwiseException("cannot write synthetic model " + out + ": " + e.getMessage(), e);
    }
  }

  private ModelProto build() throws IOException {
    ElementType dt = spec.dtype().type;
    GraphBuilder g = new GraphBuilder(graph, OPSET, "/model/");
    g.addInput("input_ids", ElementType.INT64, "batch", "sequence");
    g.addInput(
        "attention_mask",
        ElementType.INT64,
        "batch",
        spec.withPast() ? "past_sequence+sequence" : "sequence");
    if (spec.withPast()) {
      g.addInput("position_ids", ElementType.INT64, "batch", "sequence");
      for (int l = 0; l < spec.layers(); l++) {
        for (String kv : List.of("key", "value")) {
          g.addInput(
              "past_key_values." + l + "." + kv,
              dt,
              "batch",
              Integer.toString(s.kvHeads()),
              "past_sequence",
              Integer.toString(s.headDim()));
        }
      }
    }

    String embed =
        weight("model.embed_tokens.weight", new long[] {spec.vocab(), s.hidden()}, 0f, 1f);
    String hidden = g.op("Gather", embed, "input_ids");

    // positions: queries at past..past+T-1, keys at 0..past+T-1
    String seq =
        g.op("Gather", List.of(g.op("Shape", "input_ids"), g.constLong(1)), intAttr("axis", 0));
    String zero = g.constLong(0);
    String one = g.constLong(1);
    String positionIds;
    String queryPos;
    String keyPos;
    if (spec.withPast()) {
      String past =
          g.op(
              "Gather",
              List.of(g.op("Shape", "past_key_values.0.key"), g.constLong(2)),
              intAttr("axis", 0));
      String total = g.op("Add", past, seq);
      queryPos = g.op("Range", past, total, one);
      keyPos = g.op("Range", zero, total, one);
      positionIds = "position_ids";
    } else {
      queryPos = g.op("Range", zero, seq, one);
      keyPos = queryPos;
      positionIds = g.unsqueeze(queryPos, 0);
    }

    // rotary_emb: inv_freq[None, :, None] @ positions[:, None, :] -> [B, T, D/2] -> cat -> cos, sin
    GraphBuilder rot = new GraphBuilder(graph, OPSET, "/model/rotary_emb/");
    float[] invFreq = new float[s.headDim() / 2];
    for (int i = 0; i < invFreq.length; i++) {
      invFreq[i] = (float) (1.0 / Math.pow(s.ropeTheta(), 2.0 * i / s.headDim()));
    }
    String invFreqName = "onnx::Expand_inv_freq";
    graph.addInitializer(Tensors.floats(invFreqName, new long[] {1, invFreq.length, 1}, invFreq));
    String posF = rot.cast(rot.unsqueeze(positionIds, 1), FLOAT);
    String freqs =
        rot.op(
            "Transpose", List.of(rot.op("MatMul", invFreqName, posF)), intsAttr("perm", 0, 2, 1));
    String emb = rot.op("Concat", List.of(freqs, freqs), intAttr("axis", -1));
    String cos = rot.unsqueeze(rot.cast(rot.op("Cos", emb), dt), 1);
    String sin = rot.unsqueeze(rot.cast(rot.op("Sin", emb), dt), 1);

    // the 4-D additive mask shared by every layer
    String causal = g.lessOrEqual(g.unsqueeze(keyPos, 0), g.unsqueeze(queryPos, 1));
    String padding = g.unsqueeze(g.cast("attention_mask", BOOL), 1, 2);
    String allowed = g.op("And", g.unsqueeze(causal, 0, 1), padding);
    String bias = g.op("Where", allowed, scalar(g, 0f), scalar(g, spec.dtype().lowest()));

    for (int l = 0; l < spec.layers(); l++) {
      hidden = layer(l, hidden, cos, sin, bias);
    }
    String normed =
        rmsNorm(new GraphBuilder(graph, OPSET, "/model/norm/"), hidden, "model.norm.weight");
    String lmHead =
        weight(
            null, new long[] {s.hidden(), spec.vocab()}, 0f, (float) (1 / Math.sqrt(s.hidden())));
    g.op("MatMul", List.of(normed, lmHead), List.of("logits"));
    g.addOutput("logits", dt, "batch", "sequence", Integer.toString(spec.vocab()));

    return ModelProto.newBuilder()
        .setIrVersion(8)
        .setProducerName("headwise synth")
        .setProducerVersion(s.name())
        .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(OPSET))
        .setGraph(graph)
        .build();
  }

  private String layer(int l, String x, String cos, String sin, String bias) throws IOException {
    String p = "/model/layers." + l + "/";
    ElementType dt = spec.dtype().type;
    String h =
        rmsNorm(
            new GraphBuilder(graph, OPSET, p + "input_layernorm/"),
            x,
            "model.layers." + l + ".input_layernorm.weight");
    GraphBuilder a = new GraphBuilder(graph, OPSET, p + "self_attn/");
    float inStd = (float) (1 / Math.sqrt(s.hidden()));
    String q =
        heads(
            a,
            a.op(
                "MatMul",
                h,
                weight(null, new long[] {s.hidden(), (long) s.heads() * s.headDim()}, 0f, inStd)),
            s.heads());
    String k =
        heads(
            a,
            a.op(
                "MatMul",
                h,
                weight(null, new long[] {s.hidden(), (long) s.kvHeads() * s.headDim()}, 0f, inStd)),
            s.kvHeads());
    String v =
        heads(
            a,
            a.op(
                "MatMul",
                h,
                weight(null, new long[] {s.hidden(), (long) s.kvHeads() * s.headDim()}, 0f, inStd)),
            s.kvHeads());
    q = rope(a, q, cos, sin);
    k = rope(a, k, cos, sin);
    if (spec.withPast()) {
      k = a.op("Concat", List.of("past_key_values." + l + ".key", k), intAttr("axis", 2));
      v = a.op("Concat", List.of("past_key_values." + l + ".value", v), intAttr("axis", 2));
      for (String kv : List.of("key", "value")) {
        String name = "present." + l + "." + kv;
        a.identity(kv.equals("key") ? k : v, name);
        a.addOutput(
            name,
            dt,
            "batch",
            Integer.toString(s.kvHeads()),
            "past_sequence+sequence",
            Integer.toString(s.headDim()));
      }
    }
    k = repeatKv(a, k);
    v = repeatKv(a, v);
    String kT = a.op("Transpose", List.of(k), intsAttr("perm", 0, 1, 3, 2));
    String scores = a.op("MatMul", q, kT);
    scores = a.op("Mul", scores, scalar(a, (float) (1 / Math.sqrt(s.headDim()))));
    scores = a.op("Add", scores, bias);
    String probs = a.op("Softmax", List.of(scores), intAttr("axis", -1));
    probs = a.cast(a.cast(probs, FLOAT), dt);
    String ctx = a.op("MatMul", probs, v);
    ctx = a.op("Transpose", List.of(ctx), intsAttr("perm", 0, 2, 1, 3));
    ctx =
        a.op(
            "Reshape",
            List.of(ctx, a.constLongs(true, 0, 0, (long) s.heads() * s.headDim())),
            intAttr("allowzero", 0));
    String attnOut =
        a.op(
            "MatMul",
            ctx,
            weight(
                null,
                new long[] {(long) s.heads() * s.headDim(), s.hidden()},
                0f,
                (float) (1 / Math.sqrt((double) s.heads() * s.headDim()))));
    GraphBuilder lb = new GraphBuilder(graph, OPSET, p);
    String residual = lb.op("Add", x, attnOut);

    String m =
        rmsNorm(
            new GraphBuilder(graph, OPSET, p + "post_attention_layernorm/"),
            residual,
            "model.layers." + l + ".post_attention_layernorm.weight");
    GraphBuilder mlp = new GraphBuilder(graph, OPSET, p + "mlp/");
    String gate =
        mlp.op("MatMul", m, weight(null, new long[] {s.hidden(), s.intermediate()}, 0f, inStd));
    String act = mlp.op("Mul", gate, mlp.op("Sigmoid", gate));
    String up =
        mlp.op("MatMul", m, weight(null, new long[] {s.hidden(), s.intermediate()}, 0f, inStd));
    String down =
        mlp.op(
            "MatMul",
            mlp.op("Mul", act, up),
            weight(
                null,
                new long[] {s.intermediate(), s.hidden()},
                0f,
                (float) (1 / Math.sqrt(s.intermediate()))));
    return lb.op("Add", residual, down);
  }

  /** [B, T, n·D] → [B, n, T, D]. */
  private String heads(GraphBuilder a, String x, int n) {
    String r =
        a.op(
            "Reshape",
            List.of(x, a.constLongs(true, 0, 0, n, s.headDim())),
            intAttr("allowzero", 0));
    return a.op("Transpose", List.of(r), intsAttr("perm", 0, 2, 1, 3));
  }

  /** x·cos + rotate_half(x)·sin, rotate_half(x) = cat(−x[..., D/2:], x[..., :D/2]). */
  private String rope(GraphBuilder a, String x, String cos, String sin) {
    long half = s.headDim() / 2;
    String axes = a.constLongs(true, 3);
    String steps = a.constLongs(true, 1);
    String x1 = a.op("Slice", x, a.constLongs(true, 0), a.constLongs(true, half), axes, steps);
    String x2 =
        a.op("Slice", x, a.constLongs(true, half), a.constLongs(true, Long.MAX_VALUE), axes, steps);
    String rotated = a.op("Concat", List.of(a.op("Neg", x2), x1), intAttr("axis", -1));
    return a.op("Add", a.op("Mul", x, cos), a.op("Mul", rotated, sin));
  }

  /**
   * repeat_kv: [B, KV, T, D] → [B, KV·group, T, D] (Unsqueeze, Expand, Reshape as the export does).
   */
  private String repeatKv(GraphBuilder a, String x) {
    if (s.group() == 1) {
      return x;
    }
    String e = a.op("Expand", a.unsqueeze(x, 2), a.constLongs(true, 1, 1, s.group(), 1, 1));
    return a.op(
        "Reshape",
        List.of(e, a.constLongs(true, 0, s.heads(), -1, s.headDim())),
        intAttr("allowzero", 0));
  }

  /** Llama RMSNorm: float32 statistics, cast back to the model dtype, times the weight. */
  private String rmsNorm(GraphBuilder n, String x, String weightName) throws IOException {
    String xf = n.cast(x, FLOAT);
    String var =
        n.op(
            "ReduceMean",
            List.of(n.op("Pow", xf, n.constFloat(2f))),
            intsAttr("axes", -1),
            intAttr("keepdims", 1));
    String inv =
        n.op(
            "Div",
            n.constFloat(1f),
            n.op("Sqrt", n.op("Add", var, n.constFloat((float) s.rmsEps()))));
    String y = n.cast(n.op("Mul", xf, inv), spec.dtype().type);
    return n.op("Mul", weight(weightName, new long[] {s.hidden()}, 1f, 0f), y);
  }

  /**
   * Generates a weight into the data file; unnamed ones get TorchScript's {@code onnx::MatMul_N}
   * names.
   */
  private String weight(String name, long[] dims, float mean, float std) throws IOException {
    String n = name != null ? name : "onnx::MatMul_" + (1000 + weightCounter++);
    graph.addInitializer(data.random(n, dims, spec.dtype(), mean, std, rng));
    return n;
  }

  /** A scalar initializer in the model's element type. */
  private String scalar(GraphBuilder b, float value) {
    String name = b.fresh("Constant");
    TensorProto.Builder t =
        TensorProto.newBuilder().setName(name).setDataType(spec.dtype().type.code());
    ByteBuffer buf =
        ByteBuffer.allocate(spec.dtype().type.byteSize()).order(ByteOrder.LITTLE_ENDIAN);
    spec.dtype().put(buf, value);
    graph.addInitializer(t.setRawData(ByteString.copyFrom(buf.array())).build());
    return name;
  }
}
