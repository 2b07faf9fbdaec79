package io.headwise.export.quant.rotation;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import com.google.protobuf.ByteString;
import io.headwise.planners.quant.Hadamard;
import io.headwise.planners.quant.Rotation;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Graph nodes that apply an orthogonal matrix to the last axis of an activation at run time ({@code
 * z ↦ z·Q}), built from {@code Reshape}, {@code MatMul} with constant factors, {@code Mul} and
 * {@code Reshape}, since ONNX has no Hadamard op:
 *
 * <ul>
 *   <li>a random Hadamard {@code Q = diag(s)·(H_K ⊗ H_A ⊗ H_B)/√n} ({@code A·B = 2^m}, Sylvester's
 *       {@code H_{2^m} = H_A ⊗ H_B}): {@code Mul(z, s) → Reshape [.., K, A, B] → MatMul(·, H_B/√n)
 *       → MatMul(H_Aᵀ, ·) → Reshape [.., K, A·B] → MatMul(H_Kᵀ, ·) → Reshape back}, so the largest
 *       constant is {@code max(K, √(2^m))}² instead of n²;
 *   <li>across heads ({@code Q = H ⊗ I_d} for {@code [.., heads·d]}): {@code Reshape [.., heads, d]
 *       → MatMul(Hᵀ, ·) → Reshape back};
 *   <li>any other orthogonal matrix: one {@code MatMul(z, Q)}.
 * </ul>
 *
 * Constants are {@code Constant} nodes (not initializers), so nothing mistakes them for weights to
 * quantize; their element type is the activation's (float or float16).
 */
final class OnlineTransform {
  private final String prefix;
  private final int elemType;
  private final Map<String, String> constants = new HashMap<>();
  private List<NodeProto> nodes = new ArrayList<>();
  private int counter;

  /**
   * A builder of online transforms whose names start with {@code prefix}. Constants are shared
   * between the transforms it builds (the same matrix before every layer's down_proj is one {@code
   * Constant} node, defined in the first transform), so insert the transforms in graph order.
   */
  OnlineTransform(String prefix, int elemType) {
    this.prefix = prefix;
    this.elemType = elemType;
  }

  /** The nodes appended since the last call, in order. */
  List<NodeProto> takeNodes() {
    List<NodeProto> out = nodes;
    nodes = new ArrayList<>();
    return out;
  }

  /**
   * Appends {@code z ↦ z·Q} for a rotation of order n = the last dimension of {@code z}; returns
   * the output.
   */
  String rotation(String z, Rotation q) {
    int n = q.size();
    String key = "rotation" + n + "/" + q.seed() + "/";
    if (!q.isHadamard()) {
      return op("MatMul", z, shared(key + "dense", () -> constant(q.matrix(), 1.0)));
    }
    Hadamard.Factorization f = q.factorization().orElseThrow();
    double[][] m = Hadamard.matrix(f);
    double[] signs = new double[n];
    for (int i = 0; i < n; i++) {
      signs[i] = Math.signum(q.matrix()[i][0]) * m[i][0];
    }
    int k = f.baseOrder();
    int log2 = f.log2PowerOfTwo();
    int a = 1 << (log2 / 2);
    int b = 1 << (log2 - log2 / 2);
    String shape = op("Shape", z);
    String lead = op("Slice", shape, longs(0), longs(-1), longs(0));
    String signed = op("Mul", z, shared(key + "signs", () -> vector(signs)));
    String x = op("Reshape", signed, op("Concat", List.of(lead, longs(k, a, b)), axis0()));
    x = op("MatMul", x, shared(key + "B", () -> constant(Hadamard.sylvester(b), 1 / Math.sqrt(n))));
    if (a > 1) {
      // Sylvester matrices are symmetric
      x = op("MatMul", shared(key + "A", () -> constant(Hadamard.sylvester(a), 1.0)), x);
    }
    if (k > 1) {
      x = op("Reshape", x, op("Concat", List.of(lead, longs(k, (long) a * b)), axis0()));
      x = op("MatMul", shared(key + "K", () -> constant(transpose(Hadamard.base(f)), 1.0)), x);
    }
    return op("Reshape", x, shape);
  }

  /** Appends {@code z ↦ z·(H ⊗ I_d)} for {@code z [.., heads·d]}; returns the output. */
  String acrossHeads(String z, double[][] h, int d) {
    int heads = h.length;
    String key = "heads" + heads + "/" + d + "/" + Arrays.deepToString(h);
    String shape = op("Shape", z);
    String lead = op("Slice", shape, longs(0), longs(-1), longs(0));
    String x = op("Reshape", z, op("Concat", List.of(lead, longs(heads, d)), axis0()));
    x = op("MatMul", shared(key, () -> constant(transpose(h), 1.0)), x);
    return op("Reshape", x, shape);
  }

  private String shared(String key, Supplier<String> make) {
    String name = constants.get(key);
    if (name == null) {
      name = make.get();
      constants.put(key, name);
    }
    return name;
  }

  private String op(String type, String... inputs) {
    return op(type, List.of(inputs));
  }

  private String op(String type, List<String> inputs, AttributeProto... attrs) {
    String out = prefix + type + "_" + counter++;
    NodeProto.Builder n =
        NodeProto.newBuilder().setOpType(type).setName(out).addAllInput(inputs).addOutput(out);
    for (AttributeProto a : attrs) {
      n.addAttribute(a);
    }
    nodes.add(n.build());
    return out;
  }

  private static AttributeProto axis0() {
    return AttributeProto.newBuilder()
        .setName("axis")
        .setType(AttributeProto.AttributeType.INT)
        .setI(0)
        .build();
  }

  private String longs(long... v) {
    ByteBuffer buf = ByteBuffer.allocate(8 * v.length).order(ByteOrder.LITTLE_ENDIAN);
    for (long x : v) {
      buf.putLong(x);
    }
    TensorProto t =
        TensorProto.newBuilder()
            .setDataType(TensorProto.DataType.INT64_VALUE)
            .addDims(v.length)
            .setRawData(ByteString.copyFrom(buf.array()))
            .build();
    return constantNode(t);
  }

  private String vector(double[] v) {
    return constantNode(tensor(v, new long[] {v.length}));
  }

  private String constant(double[][] m, double scale) {
    int rows = m.length;
    int cols = m[0].length;
    double[] flat = new double[rows * cols];
    for (int i = 0; i < rows; i++) {
      for (int j = 0; j < cols; j++) {
        flat[i * cols + j] = m[i][j] * scale;
      }
    }
    return constantNode(tensor(flat, new long[] {rows, cols}));
  }

  private TensorProto tensor(double[] v, long[] dims) {
    TensorProto.Builder t = TensorProto.newBuilder().setDataType(elemType);
    for (long d : dims) {
      t.addDims(d);
    }
    t.setRawData(ByteString.copyFrom(Weights.encode(v, elemType)));
    return t.build();
  }

  private String constantNode(TensorProto t) {
    String out = prefix + "const_" + counter++;
    nodes.add(
        NodeProto.newBuilder()
            .setOpType("Constant")
            .setName(out)
            .addOutput(out)
            .addAttribute(
                AttributeProto.newBuilder()
                    .setName("value")
                    .setType(AttributeProto.AttributeType.TENSOR)
                    .setT(t))
            .build());
    return out;
  }

  static double[][] transpose(double[][] m) {
    double[][] t = new double[m[0].length][m.length];
    for (int i = 0; i < m.length; i++) {
      for (int j = 0; j < m[0].length; j++) {
        t[j][i] = m[i][j];
      }
    }
    return t;
  }
}
