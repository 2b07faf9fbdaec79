package io.headwise.export.quant;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.StringStringEntryProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnxruntime.platform.Fp16Conversions;
import com.google.protobuf.ByteString;
import io.headwise.profilers.quant.LinearLayer;
import io.headwise.schemas.HeadwiseException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Graph edits of the quantize step on a model with embedded weights: every quantized linear becomes
 * a {@code com.microsoft::MatMulNBits} node (the export), or keeps its node with the dequantized
 * weights in its initializer (the partly quantized model that layer-by-layer recapture runs on).
 */
public final class QuantizeExport {
  /** Metadata key under which the exported model records how it was quantized (a JSON object). */
  public static final String METADATA_KEY = "headwise.quantization";

  private QuantizeExport() {}

  /**
   * {@code proto} with every linear of {@code order} that has a result replaced by {@code
   * MatMulNBits} (nodes without a unique name get one), and {@code metadata} under {@link
   * #METADATA_KEY}.
   */
  public static ModelProto withMatMulNBits(
      ModelProto proto,
      List<LinearLayer> order,
      Map<String, QuantizedLinear> results,
      int quantBits,
      String metadata) {
    ModelProto.Builder b = proto.toBuilder();
    Map<String, String> names = uniqueNames(b.getGraphBuilder(), order);
    for (LinearLayer l : order) {
      QuantizedLinear q = results.get(l.outputTensor());
      if (q == null) {
        throw new IllegalStateException("linear " + l.describe() + " was not quantized");
      }
      MatMulNBitsRewriter.replace(b, names.get(l.outputTensor()), q.weights(quantBits));
    }
    List<StringStringEntryProto> props = new ArrayList<>(b.getMetadataPropsList());
    props.removeIf(e -> e.getKey().equals(METADATA_KEY));
    props.add(StringStringEntryProto.newBuilder().setKey(METADATA_KEY).setValue(metadata).build());
    b.clearMetadataProps().addAllMetadataProps(props);
    return b.build();
  }

  /**
   * {@code proto} with the weights of {@code quantized} replaced by their dequantized values (fake
   * quantization).
   */
  public static ModelProto withDequantized(
      ModelProto proto,
      List<QuantizedLinear> quantized,
      Map<String, LinearLayer> byOutput,
      int quantBits) {
    GraphProto.Builder g = proto.getGraph().toBuilder();
    Map<String, Integer> initIndex = new HashMap<>();
    for (int i = 0; i < g.getInitializerCount(); i++) {
      initIndex.put(g.getInitializer(i).getName(), i);
    }
    for (QuantizedLinear q : quantized) {
      LinearLayer l = byOutput.get(q.outputTensor());
      Integer idx = initIndex.get(l.weightName());
      if (idx == null) {
        throw new HeadwiseException(
            "weight " + l.weightName() + " of " + l.describe() + " is not an initializer");
      }
      TensorProto t = g.getInitializer(idx);
      float[] outIn = q.weights(quantBits).dequantizeOutIn();
      int n = l.outFeatures();
      int k = l.inFeatures();
      float[] stored = l.weightOutIn() ? outIn : transpose(outIn, n, k);
      g.setInitializer(
          idx,
          t.toBuilder()
              .clearFloatData()
              .clearInt32Data()
              .clearExternalData()
              .setDataLocation(TensorProto.DataLocation.DEFAULT)
              .setRawData(ByteString.copyFrom(encode(stored, t.getDataType())))
              .build());
    }
    return proto.toBuilder().setGraph(g).build();
  }

  private static Map<String, String> uniqueNames(GraphProto.Builder g, List<LinearLayer> order) {
    Map<String, Integer> counts = new HashMap<>();
    Set<String> taken = new HashSet<>();
    for (NodeProto n : g.getNodeList()) {
      counts.merge(n.getName(), 1, Integer::sum);
      taken.add(n.getName());
    }
    Set<String> wanted = new HashSet<>();
    for (LinearLayer l : order) {
      wanted.add(l.outputTensor());
    }
    Map<String, String> out = new HashMap<>();
    for (int i = 0; i < g.getNodeCount(); i++) {
      NodeProto n = g.getNode(i);
      if (n.getOutputCount() == 0 || !wanted.contains(n.getOutput(0))) {
        continue;
      }
      String name = n.getName();
      if (name.isEmpty() || counts.get(name) > 1) {
        String base = "hw/quant/" + n.getOutput(0);
        name = base;
        for (int j = 1; taken.contains(name); j++) {
          name = base + "_" + j;
        }
        taken.add(name);
        g.setNode(i, n.toBuilder().setName(name).build());
      }
      out.put(n.getOutput(0), name);
    }
    return out;
  }

  private static float[] transpose(float[] m, int rows, int cols) {
    float[] t = new float[m.length];
    for (int r = 0; r < rows; r++) {
      for (int c = 0; c < cols; c++) {
        t[c * rows + r] = m[r * cols + c];
      }
    }
    return t;
  }

  private static byte[] encode(float[] v, int type) {
    if (type == TensorProto.DataType.FLOAT16_VALUE || type == TensorProto.DataType.BFLOAT16_VALUE) {
      ByteBuffer b = ByteBuffer.allocate(2 * v.length).order(ByteOrder.LITTLE_ENDIAN);
      for (float x : v) {
        b.putShort(
            type == TensorProto.DataType.BFLOAT16_VALUE
                ? Fp16Conversions.floatToBf16(x)
                : Fp16Conversions.floatToFp16(x));
      }
      return b.array();
    }
    ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
    b.asFloatBuffer().put(v);
    return b.array();
  }
}
