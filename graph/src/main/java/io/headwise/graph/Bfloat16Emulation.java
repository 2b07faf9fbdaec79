package io.headwise.graph;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.TypeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntToDoubleFunction;

/**
 * Runs a bfloat16 graph in float32 with its interface unchanged, because ONNX Runtime's CPU
 * provider has no bfloat16 MatMul (nor most other bfloat16 kernels): every bfloat16 initializer and
 * graph input is cast to float32 once where the graph reads it, every {@code Cast} to bfloat16
 * becomes a Cast to float32 (as do bfloat16 constants and {@code dtype} attributes), and every
 * bfloat16 graph output is cast back at the end. The initializers themselves, and so their external
 * data, are not touched: the casts run inside ONNX Runtime, and the JVM never holds the weights.
 *
 * <p>This is an <b>emulation</b>: the weights are the model's exact bfloat16 values, but the
 * activations are not rounded to bfloat16 between ops, so results differ from a native bfloat16 run
 * by that rounding (which is larger than float16's: 8 bits of mantissa). Every session this project
 * creates goes through it ({@link OrtModels#session}), so the dense model and a plan are always
 * compared under the same arithmetic.
 */
public final class Bfloat16Emulation {
  private static final int BF16 = ElementType.BFLOAT16.code();
  private static final int F32 = ElementType.FLOAT.code();
  private static final String SUFFIX = "__hw_f32";

  private Bfloat16Emulation() {}

  /** Whether {@code model}'s main graph computes in bfloat16 anywhere this class rewrites. */
  public static boolean needed(ModelProto model) {
    return needed(model.getGraph());
  }

  private static boolean needed(GraphProto g) {
    for (TensorProto t : g.getInitializerList()) {
      if (t.getDataType() == BF16) {
        return true;
      }
    }
    for (ValueInfoProto v : g.getInputList()) {
      if (isBf16(v)) {
        return true;
      }
    }
    for (NodeProto n : g.getNodeList()) {
      for (AttributeProto a : n.getAttributeList()) {
        if (a.getType() == AttributeProto.AttributeType.INT
                && (a.getName().equals("to") || a.getName().equals("dtype"))
                && a.getI() == BF16
            || a.hasT() && a.getT().getDataType() == BF16
            || a.hasG() && needed(a.getG())) {
          return true;
        }
      }
    }
    return false;
  }

  /** {@code model} computing in float32 (the model itself when it has nothing in bfloat16). */
  public static ModelProto apply(ModelProto model) {
    if (!needed(model)) {
      return model;
    }
    GraphProto g = model.getGraph();
    Map<String, String> renamed = new HashMap<>();
    List<NodeProto> head = new ArrayList<>();
    for (TensorProto t : g.getInitializerList()) {
      if (t.getDataType() == BF16) {
        head.add(cast(t.getName(), t.getName() + SUFFIX, F32));
        renamed.put(t.getName(), t.getName() + SUFFIX);
      }
    }
    for (ValueInfoProto v : g.getInputList()) {
      if (isBf16(v) && !renamed.containsKey(v.getName())) {
        head.add(cast(v.getName(), v.getName() + SUFFIX, F32));
        renamed.put(v.getName(), v.getName() + SUFFIX);
      }
    }
    // a bf16 output is produced under a new name and cast back to its own name at the end
    Map<String, String> outputs = new HashMap<>();
    List<NodeProto> tail = new ArrayList<>();
    for (ValueInfoProto v : g.getOutputList()) {
      if (isBf16(v)) {
        String inner = renamed.getOrDefault(v.getName(), v.getName() + SUFFIX);
        outputs.put(v.getName(), inner);
        tail.add(cast(inner, v.getName(), BF16));
      }
    }
    GraphProto.Builder out = g.toBuilder().clearNode().addAllNode(head);
    for (NodeProto n : g.getNodeList()) {
      NodeProto.Builder nb = rewrite(n, renamed).toBuilder();
      for (int i = 0; i < nb.getOutputCount(); i++) {
        String inner = outputs.get(nb.getOutput(i));
        if (inner != null) {
          nb.setOutput(i, inner);
        }
      }
      // readers of a bf16 graph output read the float32 tensor (inputs were renamed above)
      for (int i = 0; i < nb.getInputCount(); i++) {
        String inner = outputs.get(nb.getInput(i));
        if (inner != null && !renamed.containsKey(nb.getInput(i))) {
          nb.setInput(i, inner);
        }
      }
      out.addNode(nb);
    }
    out.addAllNode(tail);
    out.clearValueInfo();
    for (ValueInfoProto v : g.getValueInfoList()) {
      out.addValueInfo(toFloat(v));
    }
    return model.toBuilder().setGraph(out).build();
  }

  /** {@code n} reading renamed inputs and computing in float32 (subgraphs too). */
  private static NodeProto rewrite(NodeProto n, Map<String, String> renamed) {
    NodeProto.Builder b = n.toBuilder();
    for (int i = 0; i < b.getInputCount(); i++) {
      String r = renamed.get(b.getInput(i));
      if (r != null) {
        b.setInput(i, r);
      }
    }
    for (int i = 0; i < b.getAttributeCount(); i++) {
      AttributeProto a = b.getAttribute(i);
      AttributeProto.Builder ab = a.toBuilder();
      if (a.getType() == AttributeProto.AttributeType.INT
          && (a.getName().equals("to") || a.getName().equals("dtype"))
          && a.getI() == BF16) {
        ab.setI(F32);
      }
      if (a.hasT() && a.getT().getDataType() == BF16) {
        ab.setT(toFloat(a.getT()));
      }
      if (a.hasG()) {
        ab.setG(subgraph(a.getG(), renamed));
      }
      b.setAttribute(i, ab);
    }
    return b.build();
  }

  /**
   * A Loop/If/Scan body: its own bf16 inputs, outputs and values become float32 (the outer values
   * they bind to are float32 now); outer-scope names it reads are renamed like the main graph's.
   */
  private static GraphProto subgraph(GraphProto g, Map<String, String> renamed) {
    GraphProto.Builder b = g.toBuilder().clearNode().clearInput().clearOutput().clearValueInfo();
    g.getInputList().forEach(v -> b.addInput(toFloat(v)));
    g.getOutputList().forEach(v -> b.addOutput(toFloat(v)));
    g.getValueInfoList().forEach(v -> b.addValueInfo(toFloat(v)));
    for (NodeProto n : g.getNodeList()) {
      b.addNode(rewrite(n, renamed));
    }
    b.clearInitializer();
    for (TensorProto t : g.getInitializerList()) {
      b.addInitializer(t.getDataType() == BF16 ? toFloat(t) : t);
    }
    return b.build();
  }

  private static boolean isBf16(ValueInfoProto v) {
    return v.getType().hasTensorType() && v.getType().getTensorType().getElemType() == BF16;
  }

  private static ValueInfoProto toFloat(ValueInfoProto v) {
    if (!isBf16(v)) {
      return v;
    }
    TypeProto.Builder t = v.getType().toBuilder();
    t.getTensorTypeBuilder().setElemType(F32);
    return v.toBuilder().setType(t).build();
  }

  /**
   * A small bf16 tensor held in the proto (a Constant's or ConstantOfShape's value, a body's
   * initializer) as float32. External data is not read here: such tensors stay bf16 and are cast.
   */
  private static TensorProto toFloat(TensorProto t) {
    if (t.getDataLocation() == TensorProto.DataLocation.EXTERNAL) {
      throw new IllegalArgumentException("external bfloat16 tensor " + t.getName() + " in a node");
    }
    long count = 1;
    for (long d : t.getDimsList()) {
      count *= d;
    }
    IntToDoubleFunction bf16 = Tensors.values(t); // raw bytes or int32_data, as ONNX stores bf16
    float[] values = new float[Math.toIntExact(count)];
    for (int i = 0; i < values.length; i++) {
      values[i] = (float) bf16.applyAsDouble(i);
    }
    ByteBuffer buf = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    for (float v : values) {
      buf.putFloat(v);
    }
    buf.flip();
    return t.toBuilder()
        .setDataType(F32)
        .clearInt32Data()
        .setRawData(com.google.protobuf.ByteString.copyFrom(buf))
        .build();
  }

  private static NodeProto cast(String in, String out, int to) {
    return NodeProto.newBuilder()
        .setOpType("Cast")
        .setName(out + "_cast")
        .addInput(in)
        .addOutput(out)
        .addAttribute(GraphBuilder.intAttr("to", to))
        .build();
  }
}
