package io.headwise.export.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.TypeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.platform.Fp16Conversions;
import com.google.protobuf.ByteString;
import io.headwise.graph.Tensors;
import io.headwise.planners.quant.GptqQuantizer;
import io.headwise.planners.quant.QuantConfig;
import io.headwise.planners.quant.QuantizedWeight;
import io.headwise.planners.quant.RtnQuantizer;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.ShortBuffer;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Runs rewritten graphs in ONNX Runtime and compares against Java dequantize-then-matmul. */
class MatMulNBitsOrtTest {

  private static final double TOLERANCE = 1e-4;
  private static final OrtEnvironment ENV = OrtEnvironment.getEnvironment();

  @Test
  void fourBitAsymmetricAndSymmetric() throws OrtException {
    checkMatMul(64, 48, QuantConfig.asymmetric(4, 32), 32, new long[] {3, 64});
    checkMatMul(64, 48, QuantConfig.symmetric(4, 32), 32, new long[] {3, 64});
    checkMatMul(64, 48, QuantConfig.asymmetric(4, 32), 32, new long[] {2, 3, 64});
  }

  @Test
  void eightBit() throws OrtException {
    checkMatMul(64, 48, QuantConfig.asymmetric(8, 32), 32, new long[] {3, 64});
    checkMatMul(64, 48, QuantConfig.symmetric(8, 64), 64, new long[] {3, 64});
  }

  @Test
  void twoBitCodesInFourBitContainers() throws OrtException {
    checkMatMul(64, 48, QuantConfig.asymmetric(2, 32), 32, new long[] {3, 64});
    checkMatMul(64, 48, QuantConfig.symmetric(2, 32), 32, new long[] {3, 64});
  }

  @Test
  void threeBitCodesInFourBitContainers() throws OrtException {
    checkMatMul(64, 48, QuantConfig.asymmetric(3, 32), 32, new long[] {3, 64});
    checkMatMul(64, 48, QuantConfig.symmetric(3, 32), 32, new long[] {3, 64});
    checkMatMul(
        64,
        48,
        QuantConfig.rsqDefault(3),
        64,
        new long[] {3, 64}); // per channel, replicated scales
  }

  @Test
  void oddBlockCountsAndPaddedK() throws OrtException {
    checkMatMul(
        96, 40, QuantConfig.asymmetric(4, 32), 32, new long[] {5, 96}); // 3 blocks: zp row padding
    checkMatMul(80, 24, QuantConfig.asymmetric(4, 32), 32, new long[] {5, 80}); // K padded to 96
    checkMatMul(80, 24, QuantConfig.symmetric(8, 16), 16, new long[] {5, 80});
  }

  @Test
  void gptqWeightsRunInOrt() throws OrtException {
    int k = 128;
    int n = 32;
    double[][] w = MatMulNBitsPackingTest.gaussian(n, k, 0.1, 77);
    double[][] x = MatMulNBitsPackingTest.gaussian(300, k, 1, 78);
    double[][] h = new double[k][k];
    for (double[] row : x) {
      for (int i = 0; i < k; i++) {
        for (int j = 0; j < k; j++) {
          h[i][j] += row[i] * row[j];
        }
      }
    }
    QuantizedWeight q = GptqQuantizer.quantize("fc", w, h, QuantConfig.asymmetric(4, 32)).weight();
    runAndCompare(k, n, w, q, 32, new long[] {4, k});
  }

  @Test
  void gemmWithTransposedWeightAndBias() throws OrtException {
    int k = 64;
    int n = 16;
    double[][] w = MatMulNBitsPackingTest.gaussian(n, k, 0.1, 5);
    float[] wFlat = new float[n * k];
    for (int r = 0; r < n; r++) {
      for (int c = 0; c < k; c++) {
        wFlat[r * k + c] = (float) w[r][c];
      }
    }
    float[] bias = new float[n];
    for (int i = 0; i < n; i++) {
      bias[i] = 0.25f * i - 1;
    }
    GraphProto.Builder graph =
        GraphProto.newBuilder()
            .setName("gemm")
            .addInput(floatInput("A", new long[] {3, k}))
            .addOutput(floatInput("Y", new long[] {3, n}))
            .addInitializer(Tensors.floats("W", new long[] {n, k}, wFlat))
            .addInitializer(Tensors.floats("C", new long[] {n}, bias))
            .addNode(
                NodeProto.newBuilder()
                    .setOpType("Gemm")
                    .setName("fc")
                    .addInput("A")
                    .addInput("W")
                    .addInput("C")
                    .addOutput("Y")
                    .addAttribute(
                        AttributeProto.newBuilder()
                            .setName("transB")
                            .setType(AttributeProto.AttributeType.INT)
                            .setI(1)));
    ModelProto.Builder model = model(graph);
    double[][] read =
        MatMulNBitsRewriter.weightOutIn(model.getGraph(), model.getGraph().getNode(0));
    assertEquals((float) w[3][7], read[3][7]);
    QuantizedWeight q = RtnQuantizer.quantize(read, QuantConfig.asymmetric(4, 32));
    MatMulNBitsWeights packed = MatMulNBitsWeights.from(q);
    MatMulNBitsRewriter.replace(model, "fc", packed);
    float[][] a = randomInput(3, k, 6);
    float[][] y = run(model.build(), a, new long[] {3, k});
    float[] deq = packed.dequantizeOutIn();
    for (int m = 0; m < 3; m++) {
      for (int j = 0; j < n; j++) {
        double ref = bias[j];
        for (int c = 0; c < k; c++) {
          ref += (double) a[m][c] * deq[j * k + c];
        }
        assertEquals(ref, y[m][j], TOLERANCE);
      }
    }
  }

  @Test
  void float16ModelsGetFloat16Scales() throws OrtException {
    int k = 64;
    int n = 48;
    double[][] w = MatMulNBitsPackingTest.gaussian(n, k, 0.1, 91);
    ByteBuffer raw = ByteBuffer.allocate(2 * k * n).order(ByteOrder.LITTLE_ENDIAN);
    for (int c = 0; c < k; c++) {
      for (int r = 0; r < n; r++) {
        raw.putShort(Fp16Conversions.floatToFp16((float) w[r][c]));
      }
    }
    TensorProto weight =
        TensorProto.newBuilder()
            .setName("W")
            .setDataType(TensorProto.DataType.FLOAT16_VALUE)
            .addDims(k)
            .addDims(n)
            .setRawData(ByteString.copyFrom(raw.array()))
            .build();
    GraphProto.Builder graph =
        GraphProto.newBuilder()
            .setName("fp16")
            .addInput(tensorInfo("A", TensorProto.DataType.FLOAT16_VALUE, new long[] {3, k}))
            .addOutput(tensorInfo("Y", TensorProto.DataType.FLOAT16_VALUE, new long[] {3, n}))
            .addInitializer(weight)
            .addNode(
                NodeProto.newBuilder()
                    .setOpType("MatMul")
                    .setName("proj")
                    .addInput("A")
                    .addInput("W")
                    .addOutput("Y"));
    ModelProto.Builder model = model(graph);
    double[][] read =
        MatMulNBitsRewriter.weightOutIn(model.getGraph(), model.getGraph().getNode(0));
    assertEquals(
        Fp16Conversions.fp16ToFloat(Fp16Conversions.floatToFp16((float) w[5][9])), read[5][9]);
    MatMulNBitsWeights packed =
        MatMulNBitsWeights.from(RtnQuantizer.quantize(read, QuantConfig.asymmetric(4, 32)));
    MatMulNBitsRewriter.replace(model, "proj", packed);
    TensorProto scales =
        model.getGraph().getInitializerList().stream()
            .filter(t -> t.getName().endsWith("_scales"))
            .findFirst()
            .orElseThrow();
    assertEquals(TensorProto.DataType.FLOAT16_VALUE, scales.getDataType());

    float[][] a = randomInput(3, k, 92);
    ShortBuffer input = ShortBuffer.allocate(3 * k);
    for (float[] row : a) {
      for (int c = 0; c < k; c++) {
        row[c] = Fp16Conversions.fp16ToFloat(Fp16Conversions.floatToFp16(row[c]));
        input.put(Fp16Conversions.floatToFp16(row[c]));
      }
    }
    input.flip();
    float[] y;
    try (OrtSession.SessionOptions options = new OrtSession.SessionOptions();
        OrtSession session = ENV.createSession(model.build().toByteArray(), options);
        OnnxTensor tensor =
            OnnxTensor.createTensor(ENV, input, new long[] {3, k}, OnnxJavaType.FLOAT16);
        OrtSession.Result result = session.run(Map.of("A", tensor))) {
      FloatBuffer out = ((OnnxTensor) result.get(0)).getFloatBuffer();
      y = new float[out.remaining()];
      out.get(y);
    }
    float[] deq = packed.withHalfPrecisionScales().dequantizeOutIn();
    for (int m = 0; m < 3; m++) {
      for (int j = 0; j < n; j++) {
        double ref = 0;
        for (int c = 0; c < k; c++) {
          ref += (double) a[m][c] * deq[j * k + c];
        }
        // float16 output: about 3 significant digits
        assertEquals(
            ref, y[m * n + j], 2e-3 * Math.max(1, Math.abs(ref)), "(" + m + ", " + j + ")");
      }
    }
  }

  private static void checkMatMul(
      int k, int n, QuantConfig config, int blockSize, long[] inputShape) throws OrtException {
    double[][] w = MatMulNBitsPackingTest.gaussian(n, k, 0.1, k * 31L + n + config.bits());
    runAndCompare(k, n, w, RtnQuantizer.quantize(w, config), blockSize, inputShape);
  }

  /** Builds y = A·W (W as a [K, N] initializer), swaps in MatMulNBits, runs ORT and compares. */
  private static void runAndCompare(
      int k, int n, double[][] wOutIn, QuantizedWeight q, int blockSize, long[] inputShape)
      throws OrtException {
    float[] wInOut = new float[k * n];
    for (int r = 0; r < n; r++) {
      for (int c = 0; c < k; c++) {
        wInOut[c * n + r] = (float) wOutIn[r][c];
      }
    }
    long[] outShape = inputShape.clone();
    outShape[outShape.length - 1] = n;
    GraphProto.Builder graph =
        GraphProto.newBuilder()
            .setName("one_matmul")
            .addInput(floatInput("A", inputShape))
            .addOutput(floatInput("Y", outShape))
            .addInitializer(Tensors.floats("W", new long[] {k, n}, wInOut))
            .addNode(
                NodeProto.newBuilder()
                    .setOpType("MatMul")
                    .setName("proj")
                    .addInput("A")
                    .addInput("W")
                    .addOutput("Y"));
    ModelProto.Builder model = model(graph);

    double[][] read =
        MatMulNBitsRewriter.weightOutIn(model.getGraph(), model.getGraph().getNode(0));
    assertEquals((float) wOutIn[n - 1][k - 1], read[n - 1][k - 1]);

    MatMulNBitsWeights packed = MatMulNBitsWeights.from(q, blockSize);
    NodeProto replaced = MatMulNBitsRewriter.replace(model, "proj", packed);
    assertEquals("MatMulNBits", replaced.getOpType());
    assertEquals(1, model.getGraph().getNodeCount());
    assertFalse(
        model.getGraph().getInitializerList().stream().anyMatch(t -> t.getName().equals("W")),
        "the float weight is dropped");
    assertTrue(
        model.getOpsetImportList().stream().anyMatch(o -> o.getDomain().equals("com.microsoft")));
    assertFalse(MatMulNBitsRewriter.ensureMicrosoftOpset(model), "opset import added once");

    int rows = 1;
    for (int d = 0; d < inputShape.length - 1; d++) {
      rows *= (int) inputShape[d];
    }
    float[][] a = randomInput(rows, k, k + n);
    float[][] y = run(model.build(), a, inputShape);
    float[] deq = packed.dequantizeOutIn();
    double[][] javaDeq = q.dequantize();
    double worst = 0;
    for (int m = 0; m < rows; m++) {
      for (int j = 0; j < n; j++) {
        double ref = 0;
        for (int c = 0; c < k; c++) {
          ref += (double) a[m][c] * deq[j * k + c];
          assertEquals(javaDeq[j][c], deq[j * k + c], 1e-6 * Math.abs(javaDeq[j][c]) + 1e-9);
        }
        worst = Math.max(worst, Math.abs(ref - y[m][j]));
      }
    }
    assertTrue(
        worst <= TOLERANCE,
        q.config() + " block " + blockSize + ": ORT differs from Java by " + worst);
  }

  private static float[][] run(ModelProto model, float[][] a, long[] shape) throws OrtException {
    int rows = a.length;
    int k = a[0].length;
    FloatBuffer buf = FloatBuffer.allocate(rows * k);
    for (float[] row : a) {
      buf.put(row);
    }
    buf.flip();
    try (OrtSession.SessionOptions options = new OrtSession.SessionOptions();
        OrtSession session = ENV.createSession(model.toByteArray(), options);
        OnnxTensor input = OnnxTensor.createTensor(ENV, buf, shape);
        OrtSession.Result result = session.run(Map.of("A", input))) {
      OnnxTensor out = (OnnxTensor) result.get(0);
      FloatBuffer y = out.getFloatBuffer();
      int n = y.remaining() / rows;
      float[][] out2 = new float[rows][n];
      for (int m = 0; m < rows; m++) {
        y.get(out2[m]);
      }
      return out2;
    }
  }

  private static float[][] randomInput(int rows, int k, long seed) {
    Random random = new Random(seed);
    float[][] a = new float[rows][k];
    for (float[] row : a) {
      for (int c = 0; c < k; c++) {
        row[c] = (float) random.nextGaussian();
      }
    }
    return a;
  }

  private static ModelProto.Builder model(GraphProto.Builder graph) {
    return ModelProto.newBuilder()
        .setIrVersion(8)
        .setProducerName("headwise-test")
        .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(17))
        .setGraph(graph);
  }

  private static ValueInfoProto floatInput(String name, long[] shape) {
    return tensorInfo(name, TensorProto.DataType.FLOAT_VALUE, shape);
  }

  private static ValueInfoProto tensorInfo(String name, int elemType, long[] shape) {
    TensorShapeProto.Builder s = TensorShapeProto.newBuilder();
    for (long d : shape) {
      s.addDim(TensorShapeProto.Dimension.newBuilder().setDimValue(d));
    }
    return ValueInfoProto.newBuilder()
        .setName(name)
        .setType(
            TypeProto.newBuilder()
                .setTensorType(TypeProto.Tensor.newBuilder().setElemType(elemType).setShape(s)))
        .build();
  }
}
