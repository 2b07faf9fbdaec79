package io.headwise.export.quant;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.GraphProtoOrBuilder;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import ai.onnxruntime.platform.Fp16Conversions;
import com.google.protobuf.ByteString;
import io.headwise.graph.GraphBuilder;
import io.headwise.graph.Tensors;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Replaces a {@code MatMul} (or a simple {@code Gemm}) whose weight is an initializer by a {@code
 * com.microsoft::MatMulNBits} node carrying quantized weights, and reads such weights out of a
 * graph in the orientation the quantizers take.
 *
 * <p>Orientation: a MatMul initializer is {@code [K, N]} ({@code y = x·B}); a Gemm with {@code
 * transB=1} holds {@code [N, K]}; {@code MatMulNBits} and {@link
 * io.headwise.planners.quant.GptqQuantizer} use {@code [N][K]} (row = output channel). {@link
 * #weightOutIn} does the transposition.
 *
 * <p>The new node keeps the old node's position, name and output, and gets attributes {@code K},
 * {@code N}, {@code bits}, {@code block_size} and {@code accuracy_level = 0} (compute in the type
 * of A). Weights may be float32 or float16; the {@code scales} initializer takes the weight's type
 * (the operator requires the type of A), so float16 models get float16 scales ({@link
 * MatMulNBitsWeights#withHalfPrecisionScales()} gives the matching Java reference). The old weight
 * initializer is removed when nothing else reads it.
 *
 * <p>One class (about 470 lines) because MatMul and Gemm replacement, and reading the weights back,
 * share every step after locating the node: the initializer lookup, the shape checks and the
 * installation of the new node and its initializers.
 */
public final class MatMulNBitsRewriter {

  /** Domain of ONNX Runtime's contrib operators. */
  public static final String MICROSOFT_DOMAIN = "com.microsoft";

  /** Opset version of {@link #MICROSOFT_DOMAIN} that defines {@code MatMulNBits}. */
  public static final int MICROSOFT_OPSET = 1;

  /** {@code accuracy_level} written on every node: 0 = unset, compute in A's type. */
  public static final int ACCURACY_LEVEL = 0;

  private MatMulNBitsRewriter() {}

  /**
   * Adds the {@code com.microsoft} opset import (version 1) if the model lacks it; returns whether
   * it was added.
   */
  public static boolean ensureMicrosoftOpset(ModelProto.Builder model) {
    for (OperatorSetIdProto opset : model.getOpsetImportList()) {
      if (MICROSOFT_DOMAIN.equals(opset.getDomain())) {
        return false;
      }
    }
    model.addOpsetImport(
        OperatorSetIdProto.newBuilder().setDomain(MICROSOFT_DOMAIN).setVersion(MICROSOFT_OPSET));
    return true;
  }

  /**
   * Replaces the {@code MatMul} or {@code Gemm} node called {@code nodeName} in the model's main
   * graph and makes sure the {@code com.microsoft} opset is imported.
   */
  public static NodeProto replace(
      ModelProto.Builder model, String nodeName, MatMulNBitsWeights weights) {
    GraphProto.Builder graph = model.getGraphBuilder();
    int index = nodeIndex(graph, nodeName);
    String op = graph.getNode(index).getOpType();
    NodeProto replaced;
    if ("MatMul".equals(op)) {
      replaced = replaceMatMul(graph, index, weights);
    } else if ("Gemm".equals(op)) {
      replaced = replaceGemm(graph, index, weights);
    } else {
      throw new IllegalArgumentException(
          "node " + nodeName + " is a " + op + ", not MatMul or Gemm");
    }
    ensureMicrosoftOpset(model);
    return replaced;
  }

  /**
   * {@link #replaceMatMul(GraphProto.Builder, int, MatMulNBitsWeights)} for the node called {@code
   * nodeName}.
   */
  public static NodeProto replaceMatMul(
      GraphProto.Builder graph, String nodeName, MatMulNBitsWeights weights) {
    return replaceMatMul(graph, nodeIndex(graph, nodeName), weights);
  }

  /**
   * Replaces the {@code MatMul} at {@code nodeIndex}, whose input 1 must be a float32/float16
   * initializer {@code [K, N]} matching {@code weights}, by a {@code MatMulNBits} node. The caller
   * adds the opset import ({@link #ensureMicrosoftOpset}) to the model.
   *
   * @return the new node
   */
  public static NodeProto replaceMatMul(
      GraphProto.Builder graph, int nodeIndex, MatMulNBitsWeights weights) {
    NodeProto node = graph.getNode(nodeIndex);
    if (!"MatMul".equals(node.getOpType()) || node.getInputCount() != 2) {
      throw new IllegalArgumentException("node " + describe(node) + " is not a two-input MatMul");
    }
    TensorProto b = initializer(graph, node.getInput(1), node);
    checkDims(node, b, weights.k(), weights.n());
    return install(graph, nodeIndex, node, node.getInput(1), b.getDataType(), weights, null);
  }

  /**
   * {@link #replaceGemm(GraphProto.Builder, int, MatMulNBitsWeights)} for the node called {@code
   * nodeName}.
   */
  public static NodeProto replaceGemm(
      GraphProto.Builder graph, String nodeName, MatMulNBitsWeights weights) {
    return replaceGemm(graph, nodeIndex(graph, nodeName), weights);
  }

  /**
   * Replaces a simple {@code Gemm} ({@code alpha = 1}, {@code transA = 0}, B a float32/float16
   * initializer in either {@code transB} orientation, C absent or an initializer of {@code N}
   * values of B's type with {@code beta = 1}) by {@code MatMulNBits} with C as its {@code bias}
   * input.
   *
   * @throws UnsupportedOperationException for any other Gemm (convert it to MatMul + Add first)
   */
  public static NodeProto replaceGemm(
      GraphProto.Builder graph, int nodeIndex, MatMulNBitsWeights weights) {
    NodeProto node = graph.getNode(nodeIndex);
    if (!"Gemm".equals(node.getOpType())) {
      throw new IllegalArgumentException("node " + describe(node) + " is not a Gemm");
    }
    float alpha = floatAttribute(node, "alpha", 1f);
    float beta = floatAttribute(node, "beta", 1f);
    long transA = intAttribute(node, "transA", 0);
    long transB = intAttribute(node, "transB", 0);
    boolean hasBias = node.getInputCount() > 2 && !node.getInput(2).isEmpty();
    if (alpha != 1f || transA != 0 || (hasBias && beta != 1f)) {
      throw new UnsupportedOperationException(
          "Gemm "
              + describe(node)
              + " has alpha="
              + alpha
              + ", beta="
              + beta
              + ", transA="
              + transA
              + "; only alpha=1, transA=0, beta=1 map onto MatMulNBits; rewrite it as MatMul + Add");
    }
    TensorProto b = initializer(graph, node.getInput(1), node);
    if (transB != 0) {
      checkDims(node, b, weights.n(), weights.k());
    } else {
      checkDims(node, b, weights.k(), weights.n());
    }
    String biasName = null;
    if (hasBias) {
      TensorProto c = initializer(graph, node.getInput(2), node);
      if (c.getDataType() != b.getDataType()
          || Tensors.numel(c.getDimsList()) != weights.n()
          || (c.getDimsCount() == 2 && c.getDims(0) != 1)
          || c.getDimsCount() > 2) {
        throw new UnsupportedOperationException(
            "Gemm "
                + describe(node)
                + ": bias "
                + c.getName()
                + " is not a vector of N="
                + weights.n()
                + " values of the weight's type; rewrite it as MatMul + Add");
      }
      if (c.getDimsCount() == 1) {
        biasName = c.getName();
      } else {
        biasName = uniqueName(graph, c.getName() + "_vector");
        graph.addInitializer(c.toBuilder().setName(biasName).clearDims().addDims(weights.n()));
      }
    }
    NodeProto replaced =
        install(graph, nodeIndex, node, node.getInput(1), b.getDataType(), weights, biasName);
    if (hasBias && !biasName.equals(node.getInput(2))) {
      removeIfUnused(graph, node.getInput(2));
    }
    return replaced;
  }

  /**
   * The weight of a {@code MatMul} (initializer {@code [K, N]}) or {@code Gemm} (either {@code
   * transB}) as {@code [N][K]} doubles, row = output channel, ready for {@link
   * io.headwise.planners.quant.GptqQuantizer}.
   */
  public static double[][] weightOutIn(GraphProtoOrBuilder graph, NodeProto node) {
    TensorProto b = initializer(graph, node.getInput(1), node);
    if (b.getDimsCount() != 2) {
      throw new IllegalArgumentException(
          "weight " + b.getName() + " of " + describe(node) + " is not 2-D");
    }
    checkWeightType(node, b);
    double[] values = Tensors.toDoubles(b);
    if (values == null) {
      throw new IllegalArgumentException(
          "weight "
              + b.getName()
              + " of "
              + describe(node)
              + " is stored as external data; load the model with its external data first");
    }
    int rows = (int) b.getDims(0);
    int cols = (int) b.getDims(1);
    boolean outIn = "Gemm".equals(node.getOpType()) && intAttribute(node, "transB", 0) != 0;
    if (outIn) {
      double[][] out = new double[rows][cols];
      for (int r = 0; r < rows; r++) {
        System.arraycopy(values, r * cols, out[r], 0, cols);
      }
      return out;
    }
    double[][] out = new double[cols][rows];
    for (int r = 0; r < rows; r++) {
      for (int c = 0; c < cols; c++) {
        out[c][r] = values[r * cols + c];
      }
    }
    return out;
  }

  private static NodeProto install(
      GraphProto.Builder graph,
      int nodeIndex,
      NodeProto node,
      String weightName,
      int scaleType,
      MatMulNBitsWeights weights,
      String biasName) {
    int kb = weights.kBlocks();
    String prefix = weightName + "_MatMulNBits";
    String bName = uniqueName(graph, prefix + "_B");
    graph.addInitializer(
        uint8(
            bName,
            weights.packedB(),
            weights.n(),
            kb,
            MatMulNBitsPacking.blobBytes(weights.blockSize(), weights.bits())));
    String scalesName = uniqueName(graph, prefix + "_scales");
    graph.addInitializer(
        scaleType == TensorProto.DataType.FLOAT_VALUE
            ? Tensors.floats(scalesName, new long[] {weights.n(), kb}, weights.scales())
            : halves(scalesName, scaleType, weights.scales(), weights.n(), kb));
    String zerosName = "";
    if (weights.packedZeroPoints().isPresent()) {
      zerosName = uniqueName(graph, prefix + "_zero_points");
      graph.addInitializer(
          uint8(
              zerosName,
              weights.packedZeroPoints().get(),
              weights.n(),
              MatMulNBitsPacking.zeroPointRowBytes(kb, weights.bits())));
    }
    NodeProto.Builder replacement =
        NodeProto.newBuilder()
            .setOpType("MatMulNBits")
            .setDomain(MICROSOFT_DOMAIN)
            .setName(node.getName())
            .addInput(node.getInput(0))
            .addInput(bName)
            .addInput(scalesName);
    if (biasName != null) {
      replacement.addInput(zerosName).addInput("").addInput(biasName);
    } else if (!zerosName.isEmpty()) {
      replacement.addInput(zerosName);
    }
    replacement
        .addAllOutput(node.getOutputList())
        .addAttribute(GraphBuilder.intAttr("K", weights.k()))
        .addAttribute(GraphBuilder.intAttr("N", weights.n()))
        .addAttribute(GraphBuilder.intAttr("bits", weights.bits()))
        .addAttribute(GraphBuilder.intAttr("block_size", weights.blockSize()))
        .addAttribute(GraphBuilder.intAttr("accuracy_level", ACCURACY_LEVEL));
    if (!node.getDocString().isEmpty()) {
      replacement.setDocString(node.getDocString());
    }
    NodeProto built = replacement.build();
    graph.setNode(nodeIndex, built);
    removeIfUnused(graph, weightName);
    return built;
  }

  private static void checkDims(NodeProto node, TensorProto t, int rows, int cols) {
    if (t.getDimsCount() != 2 || t.getDims(0) != rows || t.getDims(1) != cols) {
      throw new IllegalArgumentException(
          "weight "
              + t.getName()
              + " of "
              + describe(node)
              + " has dims "
              + t.getDimsList()
              + ", expected ["
              + rows
              + ", "
              + cols
              + "]");
    }
    checkWeightType(node, t);
  }

  private static void checkWeightType(NodeProto node, TensorProto t) {
    if (t.getDataType() != TensorProto.DataType.FLOAT_VALUE
        && t.getDataType() != TensorProto.DataType.FLOAT16_VALUE
        && t.getDataType() != TensorProto.DataType.BFLOAT16_VALUE) {
      throw new UnsupportedOperationException(
          "weight "
              + t.getName()
              + " of "
              + describe(node)
              + " has ONNX data type "
              + t.getDataType()
              + "; only float32, float16 and bfloat16 weights are supported");
    }
  }

  private static TensorProto initializer(GraphProtoOrBuilder graph, String name, NodeProto node) {
    for (TensorProto t : graph.getInitializerList()) {
      if (t.getName().equals(name)) {
        return t;
      }
    }
    throw new IllegalArgumentException(
        "input " + name + " of " + describe(node) + " is not an initializer");
  }

  private static int nodeIndex(GraphProtoOrBuilder graph, String nodeName) {
    int found = -1;
    for (int i = 0; i < graph.getNodeCount(); i++) {
      if (graph.getNode(i).getName().equals(nodeName)) {
        if (found >= 0) {
          throw new IllegalArgumentException("more than one node is called " + nodeName);
        }
        found = i;
      }
    }
    if (found < 0) {
      throw new IllegalArgumentException("no node called " + nodeName);
    }
    return found;
  }

  /**
   * Removes an initializer (and its graph input / value_info entries) when no node or graph output
   * uses it.
   */
  private static void removeIfUnused(GraphProto.Builder graph, String name) {
    if (usedIn(graph, name)) {
      return;
    }
    for (ValueInfoProto out : graph.getOutputList()) {
      if (out.getName().equals(name)) {
        return;
      }
    }
    for (int i = graph.getInitializerCount() - 1; i >= 0; i--) {
      if (graph.getInitializer(i).getName().equals(name)) {
        graph.removeInitializer(i);
      }
    }
    for (int i = graph.getInputCount() - 1; i >= 0; i--) {
      if (graph.getInput(i).getName().equals(name)) {
        graph.removeInput(i);
      }
    }
    for (int i = graph.getValueInfoCount() - 1; i >= 0; i--) {
      if (graph.getValueInfo(i).getName().equals(name)) {
        graph.removeValueInfo(i);
      }
    }
  }

  /**
   * Whether any node of {@code graph} or of its subgraphs (outer-scope references) reads {@code
   * name}.
   */
  private static boolean usedIn(GraphProtoOrBuilder graph, String name) {
    for (NodeProto n : graph.getNodeList()) {
      if (n.getInputList().contains(name)) {
        return true;
      }
      for (AttributeProto a : n.getAttributeList()) {
        if (a.hasG() && usedIn(a.getG(), name)) {
          return true;
        }
        for (GraphProto g : a.getGraphsList()) {
          if (usedIn(g, name)) {
            return true;
          }
        }
      }
    }
    return false;
  }

  private static String uniqueName(GraphProtoOrBuilder graph, String base) {
    Set<String> taken = new HashSet<>();
    for (TensorProto t : graph.getInitializerList()) {
      taken.add(t.getName());
    }
    for (ValueInfoProto v : graph.getInputList()) {
      taken.add(v.getName());
    }
    for (NodeProto n : graph.getNodeList()) {
      taken.addAll(n.getOutputList());
    }
    String name = base;
    for (int i = 1; taken.contains(name); i++) {
      name = base + "_" + i;
    }
    return name;
  }

  private static TensorProto uint8(String name, byte[] data, long... dims) {
    return raw(name, TensorProto.DataType.UINT8_VALUE, data, dims);
  }

  /** Scales in the model's float16 or bfloat16 (MatMulNBits' scales share the input's type). */
  private static TensorProto halves(String name, int type, float[] data, long... dims) {
    ByteBuffer buf = ByteBuffer.allocate(2 * data.length).order(ByteOrder.LITTLE_ENDIAN);
    for (float v : data) {
      buf.putShort(
          type == TensorProto.DataType.BFLOAT16_VALUE
              ? Fp16Conversions.floatToBf16(v)
              : Fp16Conversions.floatToFp16(v));
    }
    return raw(name, type, buf.array(), dims);
  }

  /** An initializer of element type {@code dataType} holding {@code data} as raw bytes. */
  private static TensorProto raw(String name, int dataType, byte[] data, long... dims) {
    TensorProto.Builder t =
        TensorProto.newBuilder()
            .setName(name)
            .setDataType(dataType)
            .setRawData(ByteString.copyFrom(data));
    for (long d : dims) {
      t.addDims(d);
    }
    return t.build();
  }

  private static float floatAttribute(NodeProto node, String name, float fallback) {
    AttributeProto a = attribute(node, name);
    return a == null ? fallback : a.getF();
  }

  private static long intAttribute(NodeProto node, String name, long fallback) {
    AttributeProto a = attribute(node, name);
    return a == null ? fallback : a.getI();
  }

  /** The node's attribute called {@code name}, or null. */
  private static AttributeProto attribute(NodeProto node, String name) {
    for (AttributeProto a : node.getAttributeList()) {
      if (a.getName().equals(name)) {
        return a;
      }
    }
    return null;
  }

  private static String describe(NodeProto node) {
    return node.getName().isEmpty()
        ? node.getOpType() + " -> " + List.copyOf(node.getOutputList())
        : node.getOpType() + " '" + node.getName() + "'";
  }
}
