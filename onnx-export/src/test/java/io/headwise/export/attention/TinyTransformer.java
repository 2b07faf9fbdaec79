package io.headwise.export.attention;

import static io.headwise.graph.GraphBuilder.intAttr;
import static io.headwise.graph.GraphBuilder.intsAttr;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.StringStringEntryProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import io.headwise.graph.ElementType;
import io.headwise.graph.GraphBuilder;
import io.headwise.graph.OnnxModel;
import io.headwise.graph.Tensors;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;

/**
 * A small runnable transformer graph at any opset (embedding, per layer Q/K/V projections,
 * repeat_kv for GQA, one attention core with a chosen mask form, output projection) for the
 * HeadwiseAttention tests.
 */
final class TinyTransformer {
  /** How the scores are masked. */
  enum Mask {
    /** GPT-2 eager: Where(causal, scores, −3.4e38), then Add((1 − mask)·−1e9). */
    CAUSAL_WHERE_THEN_PADDING_ADD,
    /** TorchScript SDPA: Add(scores, Where(causal ∧ mask, 0, −inf)). */
    CAUSAL_BOOL_WHERE_ADD,
    /** BERT: Add((1 − mask)·−1e4) only (bidirectional). */
    PADDING_ADD
  }

  int opset = 17;
  int layers = 2;
  int heads = 4;
  int kvHeads = 2;
  int headDim = 8;
  int vocab = 50;
  Mask mask = Mask.CAUSAL_WHERE_THEN_PADDING_ADD;

  /** Scale as Div(scores, √d) instead of Mul(Q, √s)·Mul(Kᵀ, √s). */
  boolean divideScores = true;

  /** How K/V reach the core when kvHeads &lt; heads. */
  KvRepeat kvRepeat = KvRepeat.REPEAT_KV;

  /** How K/V with fewer heads than Q reach the core. */
  enum KvRepeat {
    /** transformers repeat_kv: Unsqueeze(2) → Expand → Reshape. */
    REPEAT_KV,
    /**
     * Unsqueeze(2) → Tile → Reshape: the same values, a form the exporter does not walk through.
     */
    TILE,
    /** No repeat: MatMul broadcasts a single kv head (MQA, kvHeads = 1). */
    BROADCAST
  }

  private final Random rnd = new Random(11);

  ModelProto build() {
    GraphProto.Builder graph = GraphProto.newBuilder().setName("tiny");
    GraphBuilder g = new GraphBuilder(graph, opset, "");
    g.addInput("input_ids", ElementType.INT64, "batch", "seq");
    g.addInput("attention_mask", ElementType.INT64, "batch", "seq");
    int e = heads * headDim;
    String x =
        g.op("Gather", List.of(weight(g, "embed", vocab, e), "input_ids"), intAttr("axis", 0));
    String maskF = g.cast("attention_mask", ElementType.FLOAT);
    for (int l = 0; l < layers; l++) {
      x =
          g.op(
              "Add",
              x,
              g.op(
                  "MatMul", attention(g, l, x, maskF), weight(g, "layers." + l + ".o_proj", e, e)));
    }
    g.identity(x, "hidden");
    g.addOutput("hidden", ElementType.FLOAT, "batch", "seq", String.valueOf(e));
    return ModelProto.newBuilder()
        .setIrVersion(opset >= 21 ? 10 : 8)
        .setProducerName("headwise-test")
        .setGraph(graph)
        .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(opset))
        .build();
  }

  /** Writes the model to {@code dir/name} with embedded weights and loads it by path. */
  OnnxModel write(Path dir, String name) throws IOException {
    Path p = dir.resolve(name);
    try (OutputStream out = Files.newOutputStream(p)) {
      build().writeTo(out);
    }
    return OnnxModel.load(p);
  }

  /**
   * Writes the model to {@code dir/name} with every weight matrix in the external file {@code
   * dataName} (4 KiB aligned offsets) and loads it by path.
   */
  OnnxModel writeWithExternalData(Path dir, String name, String dataName) throws IOException {
    ModelProto proto = build();
    GraphProto.Builder g = proto.getGraph().toBuilder();
    try (OutputStream data = Files.newOutputStream(dir.resolve(dataName))) {
      long offset = 0;
      for (int i = 0; i < g.getInitializerCount(); i++) {
        TensorProto t = g.getInitializer(i);
        if (t.getDimsCount() != 2) {
          continue;
        }
        byte[] raw = t.getRawData().toByteArray();
        long padding = (4096 - offset % 4096) % 4096;
        data.write(new byte[(int) padding]);
        offset += padding;
        data.write(raw);
        g.setInitializer(
            i,
            t.toBuilder()
                .clearRawData()
                .setDataLocation(TensorProto.DataLocation.EXTERNAL)
                .addExternalData(entry("location", dataName))
                .addExternalData(entry("offset", String.valueOf(offset)))
                .addExternalData(entry("length", String.valueOf(raw.length)))
                .build());
        offset += raw.length;
      }
    }
    Path p = dir.resolve(name);
    try (OutputStream out = Files.newOutputStream(p)) {
      proto.toBuilder().setGraph(g).build().writeTo(out);
    }
    return OnnxModel.load(p);
  }

  private static StringStringEntryProto entry(String key, String value) {
    return StringStringEntryProto.newBuilder().setKey(key).setValue(value).build();
  }

  private String attention(GraphBuilder g, int l, String x, String maskF) {
    int e = heads * headDim;
    String pre = "layers." + l + ".";
    String q = split(g, g.op("MatMul", x, weight(g, pre + "q_proj", e, e)), heads);
    String k =
        split(g, g.op("MatMul", x, weight(g, pre + "k_proj", e, kvHeads * headDim)), kvHeads);
    String v =
        split(g, g.op("MatMul", x, weight(g, pre + "v_proj", e, kvHeads * headDim)), kvHeads);
    if (kvHeads < heads && kvRepeat != KvRepeat.BROADCAST) {
      k = repeatKv(g, k);
      v = repeatKv(g, v);
    }
    String kt = g.op("Transpose", List.of(k), intsAttr("perm", 0, 1, 3, 2));
    String scores;
    if (divideScores) {
      scores = g.op("Div", g.op("MatMul", q, kt), g.constFloat((float) Math.sqrt(headDim)));
    } else {
      String root = g.constFloat((float) Math.sqrt(1.0 / Math.sqrt(headDim)));
      scores = g.op("MatMul", g.op("Mul", q, root), g.op("Mul", kt, root));
    }
    String padding =
        g.unsqueeze(
            g.op(
                "Mul",
                g.op("Sub", g.constFloat(1f), maskF),
                g.constFloat(mask == Mask.PADDING_ADD ? -1e4f : -1e9f)),
            1,
            2);
    switch (mask) {
      case CAUSAL_WHERE_THEN_PADDING_ADD:
        scores =
            g.op(
                "Add",
                g.op("Where", causal(g, scores), scores, g.constFloat(-3.4028234663852886e38f)),
                padding);
        break;
      case CAUSAL_BOOL_WHERE_ADD:
        {
          String keep =
              g.op("And", causal(g, scores), g.unsqueeze(g.cast(maskF, ElementType.BOOL), 1, 2));
          scores =
              g.op(
                  "Add",
                  scores,
                  g.op("Where", keep, g.constFloat(0f), g.constFloat(Float.NEGATIVE_INFINITY)));
          break;
        }
      default:
        scores = g.op("Add", scores, padding);
    }
    String p = g.op("Softmax", List.of(scores), intAttr("axis", opset >= 13 ? -1 : 3));
    String o = g.op("MatMul", p, v);
    o = g.op("Transpose", List.of(o), intsAttr("perm", 0, 2, 1, 3));
    return g.op("Reshape", o, g.constLongs(true, 0, 0, heads * headDim));
  }

  /** [1, 1, T, T] bool: key j ≤ query i. */
  private static String causal(GraphBuilder g, String scores) {
    String t = g.op("Gather", List.of(g.op("Shape", scores), g.constLong(3)), intAttr("axis", 0));
    String r = g.op("Range", g.constLong(0), t, g.constLong(1));
    return g.unsqueeze(g.lessOrEqual(g.unsqueeze(r, 0), g.unsqueeze(r, 1)), 0, 1);
  }

  /** [B, T, n·D] → [B, n, T, D]. */
  private String split(GraphBuilder g, String x, int n) {
    String r = g.op("Reshape", x, g.constLongs(true, 0, 0, n, headDim));
    return g.op("Transpose", List.of(r), intsAttr("perm", 0, 2, 1, 3));
  }

  /** transformers repeat_kv: Unsqueeze(2) → Expand → Reshape [B, H, T, D]. */
  private String repeatKv(GraphBuilder g, String kv) {
    String u = g.unsqueeze(kv, 2);
    String ex =
        kvRepeat == KvRepeat.TILE
            ? g.op("Tile", u, g.constLongs(true, 1, 1, heads / kvHeads, 1, 1))
            : g.op("Expand", u, g.constLongs(true, 1, 1, heads / kvHeads, 1, 1));
    return g.op("Reshape", ex, g.constLongs(true, 0, heads, -1, headDim));
  }

  private String weight(GraphBuilder g, String name, int rows, int cols) {
    float[] w = new float[rows * cols];
    for (int i = 0; i < w.length; i++) {
      w[i] = (float) (rnd.nextGaussian() * 0.4);
    }
    g.graph().addInitializer(Tensors.floats(name, new long[] {rows, cols}, w));
    return name;
  }
}
