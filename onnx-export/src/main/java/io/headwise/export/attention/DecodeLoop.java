package io.headwise.export.attention;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import io.headwise.graph.GraphBuilder;
import io.headwise.schemas.HeadwiseException;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A decode loop over a decoder with KV-cache inputs, batch 1: a decode graph made by {@link
 * DecodeGraphExporter} (caches {@code past.<l>.<g>.key|value|positions}) or a dense Optimum-style
 * model ({@code past_key_values.<l>.key| value}, {@code attention_mask} over past + new tokens).
 * Every input whose name starts with {@code past} is a cache fed from the output of the same name
 * with {@code present.} in place of its {@code past.} or {@code past_key_values.} prefix; caches
 * start empty. Not thread-safe.
 */
public final class DecodeLoop implements AutoCloseable {
  private final OrtSession session;
  private final OrtEnvironment env = OrtEnvironment.getEnvironment();
  private final String ids;
  private final String positions;
  private final String mask;
  private final String logits;
  private final Map<String, String> presentOf = new LinkedHashMap<>();
  private final Map<String, OnnxTensor> caches = new LinkedHashMap<>();
  private final List<OnnxTensor> owned = new ArrayList<>();
  private OrtSession.Result held;
  private long nextPosition;

  /** A loop over {@code session}, whose graph is {@code graph}. */
  public DecodeLoop(OrtSession session, GraphProto graph) {
    this.session = session;
    String idsName = null;
    String positionsName = null;
    String maskName = null;
    for (ValueInfoProto v : graph.getInputList()) {
      String n = v.getName();
      String lower = n.toLowerCase(Locale.ROOT);
      if (lower.contains("input_ids")) {
        idsName = n;
      } else if (lower.contains("position_ids")) {
        positionsName = n;
      } else if (lower.contains("attention_mask")) {
        maskName = n;
      } else if (lower.startsWith("past")) {
        String rest =
            n.startsWith("past_key_values.")
                ? n.substring("past_key_values.".length())
                : n.startsWith(DecodeCacheGroup.PAST)
                    ? n.substring(DecodeCacheGroup.PAST.length())
                    : null;
        if (rest == null) {
          throw new HeadwiseException(
              "cache input '"
                  + n
                  + "' is named neither past_key_values.<l>.<key|value> nor"
                  + " past.<l>.<g>.<part>; cannot tell which output feeds it");
        }
        presentOf.put(n, DecodeCacheGroup.PRESENT + rest);
        caches.put(n, empty(v));
      } else {
        throw new HeadwiseException(
            "input '"
                + n
                + "' has no role in a decode loop (expected input_ids,"
                + " position_ids, attention_mask and past caches)");
      }
    }
    if (idsName == null || positionsName == null || presentOf.isEmpty()) {
      throw new HeadwiseException(
          "the model has no "
              + (presentOf.isEmpty()
                  ? "past key/value"
                  : idsName == null ? "input_ids" : "position_ids")
              + " input; generate needs a decoder exported with its KV cache"
              + " (Optimum-style past_key_values inputs) or a decode graph from export --decode");
    }
    this.ids = idsName;
    this.positions = positionsName;
    this.mask = maskName;
    // The logits are the one output that feeds no cache; exporters put them first (Optimum) or last
    // (the synthetic Llama), so the position is not a rule.
    this.logits =
        graph.getOutputList().stream()
            .map(ValueInfoProto::getName)
            .filter(o -> !presentOf.containsValue(o))
            .findFirst()
            .orElseThrow(
                () -> new HeadwiseException("the decoder has no output besides its caches"));
    for (Map.Entry<String, String> e : presentOf.entrySet()) {
      boolean found =
          graph.getOutputList().stream().anyMatch(o -> o.getName().equals(e.getValue()));
      if (!found) {
        throw new HeadwiseException(
            "cache input '" + e.getKey() + "' has no output '" + e.getValue() + "'");
      }
    }
  }

  /**
   * Feeds {@code tokens} (a prompt chunk or one token) at the next positions and returns the logits
   * of the last one.
   */
  public float[] step(long[] tokens) {
    return stepAll(tokens)[tokens.length - 1];
  }

  /** As {@link #step}, returning the logits of every fed token [S][vocab]. */
  public float[][] stepAll(long[] tokens) {
    Map<String, OnnxTensor> feeds = new LinkedHashMap<>(caches);
    List<OnnxTensor> fresh = new ArrayList<>();
    try {
      long[] pos = new long[tokens.length];
      for (int i = 0; i < pos.length; i++) {
        pos[i] = nextPosition + i;
      }
      fresh.add(
          OnnxTensor.createTensor(env, LongBuffer.wrap(tokens), new long[] {1, tokens.length}));
      feeds.put(ids, fresh.get(fresh.size() - 1));
      fresh.add(OnnxTensor.createTensor(env, LongBuffer.wrap(pos), new long[] {1, tokens.length}));
      feeds.put(positions, fresh.get(fresh.size() - 1));
      if (mask != null) {
        long past = caches.values().iterator().next().getInfo().getShape()[2];
        long[] ones = new long[(int) (past + tokens.length)];
        Arrays.fill(ones, 1);
        fresh.add(OnnxTensor.createTensor(env, LongBuffer.wrap(ones), new long[] {1, ones.length}));
        feeds.put(mask, fresh.get(fresh.size() - 1));
      }
      OrtSession.Result result = session.run(feeds);
      OnnxTensor out = (OnnxTensor) result.get(logits).orElseThrow();
      long[] shape = out.getInfo().getShape();
      FloatBuffer fb = out.getFloatBuffer();
      int vocab = (int) shape[2];
      float[][] values = new float[tokens.length][vocab];
      for (int t = 0; t < tokens.length; t++) {
        fb.get(values[t]);
      }
      for (Map.Entry<String, String> e : presentOf.entrySet()) {
        caches.put(e.getKey(), (OnnxTensor) result.get(e.getValue()).orElseThrow());
      }
      // The previous result held the caches just consumed; the new one holds the caches of the next
      // step.
      if (held != null) {
        held.close();
      }
      owned.forEach(OnnxTensor::close);
      owned.clear();
      held = result;
      nextPosition += tokens.length;
      return values;
    } catch (OrtException e) {
      throw new HeadwiseException("ONNX Runtime failed on a decode step: " + e.getMessage(), e);
    } finally {
      fresh.forEach(OnnxTensor::close);
    }
  }

  /**
   * A float output of the last step (e.g. a tensor a test exposed as a graph output), flattened.
   */
  public float[] output(String name) {
    FloatBuffer fb =
        ((OnnxTensor)
                held.get(name).orElseThrow(() -> new IllegalArgumentException("no output " + name)))
            .getFloatBuffer();
    float[] out = new float[fb.remaining()];
    fb.get(out);
    return out;
  }

  /** An int64 output of the last step, flattened. */
  public long[] longOutput(String name) {
    LongBuffer lb =
        ((OnnxTensor)
                held.get(name).orElseThrow(() -> new IllegalArgumentException("no output " + name)))
            .getLongBuffer();
    long[] out = new long[lb.remaining()];
    lb.get(out);
    return out;
  }

  /** The shape of an output of the last step. */
  public long[] outputShape(String name) {
    return ((OnnxTensor) held.get(name).orElseThrow()).getInfo().getShape();
  }

  /** Tokens fed so far (the position of the next token). */
  public long position() {
    return nextPosition;
  }

  /**
   * Bytes held in the KV caches now (keys, values and, for decode graphs, positions and H2O
   * scores).
   */
  public long cacheBytes() {
    long bytes = 0;
    for (OnnxTensor t : caches.values()) {
      TensorInfo info = t.getInfo();
      long n = 1;
      for (long d : info.getShape()) {
        n *= d;
      }
      bytes += n * (info.type == ai.onnxruntime.OnnxJavaType.INT64 ? 8 : 4);
    }
    return bytes;
  }

  /**
   * Bytes of the key/value tensors alone (what a dense cache holds), without positions and scores.
   */
  public long keyValueBytes() {
    long bytes = 0;
    for (Map.Entry<String, OnnxTensor> e : caches.entrySet()) {
      if (e.getKey().endsWith(".positions")
          || e.getKey().endsWith(".scores")
          || e.getKey().endsWith(".dropped")) {
        continue;
      }
      long n = 1;
      for (long d : e.getValue().getInfo().getShape()) {
        n *= d;
      }
      bytes += n * 4;
    }
    return bytes;
  }

  private OnnxTensor empty(ValueInfoProto v) {
    List<TensorShapeProto.Dimension> dims = v.getType().getTensorType().getShape().getDimList();
    long[] shape = new long[dims.size()];
    for (int i = 0; i < shape.length; i++) {
      TensorShapeProto.Dimension d = dims.get(i);
      shape[i] =
          d.hasDimValue()
              ? d.getDimValue()
              : i == 0 && shape.length >= 3 ? 1 : 0; // batch 1, length 0
    }
    long n = 1;
    for (long d : shape) {
      n *= d;
    }
    try { // empty caches, or zero sums/counts for fixed-size state (compensation sums)
      OnnxTensor t =
          v.getType().getTensorType().getElemType() == GraphBuilder.INT64
              ? OnnxTensor.createTensor(env, LongBuffer.allocate((int) n), shape)
              : OnnxTensor.createTensor(env, FloatBuffer.allocate((int) n), shape);
      owned.add(t);
      return t;
    } catch (OrtException e) {
      throw new HeadwiseException(
          "cannot create an empty cache for '" + v.getName() + "': " + e.getMessage(), e);
    }
  }

  @Override
  public void close() {
    if (held != null) {
      held.close();
    }
    owned.forEach(OnnxTensor::close);
  }
}
