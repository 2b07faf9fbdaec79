package io.headwise.graph;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.TypeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import io.headwise.graph.AttentionMatcher.Candidate;
import io.headwise.schemas.HeadwiseException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.Set;

/**
 * The measuring half of {@link AttentionLocator}: one ONNX Runtime run on a short input with the
 * candidates' tensors exposed as float outputs, from which head counts, head dim, the kv-head
 * grouping, causality and (when the graph does not hold it as a constant) the scale are read, for
 * sure instead of guessed from names or symbolic shapes. {@link #exposeAsFloat} and {@link #run}
 * also serve other probes of the same kind (the profilers' score-path check, tests).
 */
public final class AttentionProbe {
  private static final int PROBE_LENGTH = 7;

  private AttentionProbe() {}

  static List<AttentionBlock> probe(
      OnnxModel model,
      ModelProto proto,
      GraphIndex idx,
      List<Candidate> candidates,
      int opset,
      List<Candidate> rejected) {
    ModelInputs inputs = ModelInputs.of(proto.getGraph());
    ModelLimits limits = ModelLimits.of(proto.getGraph(), inputs);
    LinkedHashSet<String> exposed = new LinkedHashSet<>();
    for (Candidate c : candidates) {
      exposed.add(c.probabilities());
      exposed.add(c.pv().getInput(1));
      exposed.add(c.pv().getOutput(0));
      exposed.add(c.query());
      exposed.add(c.keyT());
      if (c.scaledScores() != null) {
        exposed.add(c.scaledScores());
      }
    }
    Map<String, String> names = new HashMap<>();
    ModelProto probeModel = exposeAsFloat(proto, exposed, names);
    int seq = staticSequenceLength(proto.getGraph(), inputs.inputIds()).orElse(PROBE_LENGTH);
    long vocab = limits.vocabSize() > 2 ? limits.vocabSize() : 100;
    long[][] ids = new long[1][seq];
    long[][] mask = new long[1][seq];
    Random rnd = new Random(17);
    for (int j = 0; j < seq; j++) {
      ids[0][j] = 1 + rnd.nextInt((int) Math.min(vocab - 1, 1000));
      mask[0][j] = 1;
    }
    Values probed;
    try {
      probed = run(model, probeModel, inputs, names, ids, mask);
    } catch (OrtException e) {
      throw new HeadwiseException(
          "ONNX Runtime failed on a probe run of model "
              + model.source()
              + ": "
              + OrtModels.firstLine(e.getMessage()),
          e);
    }
    Map<String, float[]> values = probed.values();
    Map<String, long[]> shapes = probed.shapes();
    List<AttentionBlock> blocks = new ArrayList<>();
    for (Candidate c : candidates) {
      long[] ps = shapes.get(c.probabilities());
      long axis = GraphIndex.intAttribute(c.softmax(), "axis", opset >= 13 ? -1 : 1);
      boolean lastAxis = axis == -1 || axis == ps.length - 1;
      if (ps.length < 3 || ps[ps.length - 1] != seq || ps[ps.length - 2] != seq || !lastAxis) {
        continue; // a Softmax that is not over attention scores
      }
      if (ps.length != 4) {
        rejected.add(c); // attention, but not in the [B, H, Tq, Tk] form the statistics read
        continue;
      }
      int heads = (int) ps[1];
      long[] vs = shapes.get(c.pv().getInput(1));
      int headDim = (int) vs[vs.length - 1];
      int kvHeads =
          kvHeads(
              heads,
              vs,
              values.get(c.pv().getInput(1)),
              shapes.get(c.keyT()),
              values.get(c.keyT()));
      boolean causal = isCausal(values.get(c.probabilities()), heads, seq);
      double scale = c.structuralScale();
      if (Double.isNaN(scale) && c.scaledScores() != null) {
        scale =
            measureScale(
                values.get(c.query()),
                shapes.get(c.query()),
                values.get(c.keyT()),
                shapes.get(c.keyT()),
                values.get(c.scaledScores()),
                c.keyIsTransposedByQk());
      }
      ElementType elemType = idx.elemTypeOrFloat(c.probabilities());
      blocks.add(
          new AttentionBlock(
              blocks.size(),
              c.softmax().getName(),
              c.softmax().getInput(0),
              c.probabilities(),
              c.pv().getName(),
              c.pv().getInput(1),
              c.pv().getOutput(0),
              c.qk().getName(),
              c.query(),
              c.keyT(),
              scale,
              c.scaleForm(),
              c.masks(),
              heads,
              kvHeads,
              headDim,
              causal,
              elemType,
              c.keyIsTransposedByQk()));
    }
    return blocks;
  }

  /** The probed tensors as float arrays and their shapes, keyed by the model's tensor names. */
  public record Values(Map<String, float[]> values, Map<String, long[]> shapes) {}

  /**
   * Runs {@code probeModel} (made by {@link #exposeAsFloat}, whose {@code names} maps each model
   * tensor to its exposed output) once on {@code ids} and {@code mask}, single-threaded with basic
   * optimizations, and reads every exposed tensor back.
   */
  public static Values run(
      OnnxModel model,
      ModelProto probeModel,
      ModelInputs inputs,
      Map<String, String> names,
      long[][] ids,
      long[][] mask)
      throws OrtException {
    Map<String, float[]> values = new HashMap<>();
    Map<String, long[]> shapes = new HashMap<>();
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    try (OrtSession.SessionOptions opts = new OrtSession.SessionOptions()) {
      opts.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.BASIC_OPT);
      opts.setIntraOpNumThreads(1);
      try (OrtSession session = OrtModels.session(model, probeModel, opts)) {
        Map<String, OnnxTensor> feeds = ModelFeeds.create(env, inputs, ids, mask);
        try (OrtSession.Result r = session.run(feeds, new LinkedHashSet<>(names.values()))) {
          for (Map.Entry<String, String> e : names.entrySet()) {
            OnnxTensor tensor = (OnnxTensor) r.get(e.getValue()).orElseThrow();
            shapes.put(e.getKey(), tensor.getInfo().getShape());
            values.put(e.getKey(), OrtModels.floats(tensor));
          }
        } finally {
          feeds.values().forEach(OnnxTensor::close);
        }
      }
    }
    return new Values(values, shapes);
  }

  /**
   * A copy of {@code proto} where each tensor in {@code tensors} is also a float graph output;
   * {@code names} receives the output name of each tensor.
   */
  public static ModelProto exposeAsFloat(
      ModelProto proto, Set<String> tensors, Map<String, String> names) {
    GraphProto.Builder g = proto.getGraph().toBuilder();
    for (String t : tensors) {
      String out = "hw_probe/" + t;
      names.put(t, out);
      g.addNode(
          NodeProto.newBuilder()
              .setOpType("Cast")
              .setName("hw_probe_cast/" + t)
              .addInput(t)
              .addOutput(out)
              .addAttribute(
                  AttributeProto.newBuilder()
                      .setName("to")
                      .setType(AttributeProto.AttributeType.INT)
                      .setI(ElementType.FLOAT.code())));
      g.addOutput(
          ValueInfoProto.newBuilder()
              .setName(out)
              .setType(
                  TypeProto.newBuilder()
                      .setTensorType(
                          TypeProto.Tensor.newBuilder().setElemType(ElementType.FLOAT.code()))));
    }
    return proto.toBuilder().setGraph(g).build();
  }

  private static Optional<Integer> staticSequenceLength(GraphProto graph, String inputIds) {
    for (ValueInfoProto v : graph.getInputList()) {
      if (v.getName().equals(inputIds)) {
        List<TensorShapeProto.Dimension> dims = v.getType().getTensorType().getShape().getDimList();
        if (dims.size() == 2 && dims.get(1).hasDimValue() && dims.get(1).getDimValue() > 1) {
          return Optional.of((int) dims.get(1).getDimValue());
        }
      }
    }
    return Optional.empty();
  }

  /**
   * Kv heads from the probe: if V (or Kᵀ) has fewer heads than P, that count; otherwise the largest
   * group g such that every head's V and Kᵀ equal those of the first head of its group (repeat_kv
   * copies them exactly).
   */
  static int kvHeads(int heads, long[] vShape, float[] v, long[] kShape, float[] k) {
    if (vShape.length == 4 && vShape[1] < heads && vShape[1] > 0 && heads % vShape[1] == 0) {
      return (int) vShape[1];
    }
    if (kShape != null
        && kShape.length == 4
        && kShape[1] < heads
        && kShape[1] > 0
        && heads % kShape[1] == 0) {
      return (int) kShape[1];
    }
    for (int g = heads; g >= 1; g--) {
      if (heads % g != 0) {
        continue;
      }
      if (groupedCopies(heads, g, vShape, v)
          && (kShape == null || groupedCopies(heads, g, kShape, k))) {
        return heads / g;
      }
    }
    return heads;
  }

  private static boolean groupedCopies(int heads, int g, long[] shape, float[] x) {
    if (g == 1) {
      return true;
    }
    if (shape.length != 4 || shape[1] != heads) {
      return false;
    }
    int per = (int) (shape[2] * shape[3]);
    for (int h = 0; h < heads; h++) {
      int base = (h / g) * g;
      if (h == base) {
        continue;
      }
      for (int i = 0; i < per; i++) {
        if (Float.floatToIntBits(x[h * per + i]) != Float.floatToIntBits(x[base * per + i])) {
          return false;
        }
      }
    }
    return true;
  }

  /** True when every head puts (numerically) no mass on later keys. */
  static boolean isCausal(float[] p, int heads, int t) {
    double upper = 0;
    for (int h = 0; h < heads; h++) {
      for (int i = 0; i < t; i++) {
        for (int j = i + 1; j < t; j++) {
          upper = Math.max(upper, p[(h * t + i) * t + j]);
        }
      }
    }
    return upper < 1e-6;
  }

  /**
   * scale = scaled scores / (Q·Kᵀ), read at the element of largest |Q·Kᵀ| of head 0; {@code kIsK}
   * when the key operand is K [.., Tk, D] rather than Kᵀ [.., D, Tk].
   */
  static double measureScale(
      float[] q, long[] qs, float[] kt, long[] ks, float[] scores, boolean kIsK) {
    if (q == null || kt == null || scores == null || qs.length != 4 || ks.length != 4) {
      return Double.NaN;
    }
    int t = (int) qs[2];
    int d = (int) qs[3];
    int tk = (int) (kIsK ? ks[2] : ks[3]);
    double best = 0;
    int bi = 0;
    int bj = 0;
    double dot = 0;
    for (int i = 0; i < t; i++) {
      for (int j = 0; j < tk; j++) {
        double s = 0;
        for (int x = 0; x < d; x++) {
          s += q[i * d + x] * (kIsK ? kt[j * d + x] : kt[x * tk + j]);
        }
        if (Math.abs(s) > best) {
          best = Math.abs(s);
          bi = i;
          bj = j;
          dot = s;
        }
      }
    }
    return best == 0 ? Double.NaN : scores[bi * tk + bj] / dot;
  }
}
