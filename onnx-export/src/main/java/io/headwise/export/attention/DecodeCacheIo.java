package io.headwise.export.attention;

import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.TypeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import io.headwise.graph.GraphBuilder;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BiFunction;

/**
 * The graph inputs and outputs a decode graph declares for its cache groups (names and shapes as
 * docs/decode.md documents them): per group {@code past.<layer>.<group>.<part>} inputs and {@code
 * present.} outputs for key and value [batch, heads, tokens, head dim], positions (windowed) or
 * scores (budget), and the sums and count of a compensated group. One place for the graph's cache
 * signature, apart from the nodes that compute the caches.
 */
final class DecodeCacheIo {
  private final List<ValueInfoProto> inputs = new ArrayList<>();
  private final List<ValueInfoProto> outputs = new ArrayList<>();

  /** Cache inputs declared so far, in declaration order. */
  List<ValueInfoProto> inputs() {
    return inputs;
  }

  /** Cache outputs declared so far, in declaration order. */
  List<ValueInfoProto> outputs() {
    return outputs;
  }

  /** Declares the past inputs and present outputs of group {@code g}. */
  void declare(DecodeCacheGroup g, long headDim) {
    long heads = g.kvHeads().size();
    for (String part : List.of("key", "value")) {
      both(g, part, (name, tokens) -> cache(name, heads, headDim, param(tokens)));
    }
    if (g.budget()) {
      // accumulated attention per entry; no positions (the layout says which are recent)
      both(
          g,
          "scores",
          (name, tokens) ->
              tensor(name, GraphBuilder.FLOAT, param("batch_size"), size(heads), param(tokens)));
    }
    if (g.compensation()) {
      for (String part : List.of("sum_key", "sum_value")) {
        // one entry: the sums of what the group has evicted
        both(g, part, (name, tokens) -> cache(name, heads, headDim, size(1)));
      }
      // how many tokens the group has evicted (the compensation entry's count): float [1] for a
      // windowed group (its heads evict alike), float [Hg] per kv head for a budget group
      long counts = g.budget() ? heads : 1;
      both(g, "dropped", (name, tokens) -> tensor(name, GraphBuilder.FLOAT, size(counts)));
    }
    if (!g.budget()) {
      both(g, "positions", (name, tokens) -> tensor(name, GraphBuilder.INT64, param(tokens)));
    }
  }

  /**
   * Adds the past input and the present output of {@code part}; {@code info} gets the tensor name
   * and the symbolic name of its token axis.
   */
  private void both(
      DecodeCacheGroup g, String part, BiFunction<String, String, ValueInfoProto> info) {
    String suffix = "_" + g.layer() + "_" + g.group();
    inputs.add(info.apply(DecodeCacheGroup.PAST + g.name(part), "past" + suffix));
    outputs.add(info.apply(DecodeCacheGroup.PRESENT + g.name(part), "present" + suffix));
  }

  /** float [batch, heads, tokens, head dim]. */
  private static ValueInfoProto cache(
      String name, long heads, long headDim, TensorShapeProto.Dimension tokens) {
    return tensor(
        name, GraphBuilder.FLOAT, param("batch_size"), size(heads), tokens, size(headDim));
  }

  private static TensorShapeProto.Dimension param(String name) {
    return TensorShapeProto.Dimension.newBuilder().setDimParam(name).build();
  }

  private static TensorShapeProto.Dimension size(long n) {
    return TensorShapeProto.Dimension.newBuilder().setDimValue(n).build();
  }

  private static ValueInfoProto tensor(
      String name, int elemType, TensorShapeProto.Dimension... dims) {
    return ValueInfoProto.newBuilder()
        .setName(name)
        .setType(
            TypeProto.newBuilder()
                .setTensorType(
                    TypeProto.Tensor.newBuilder()
                        .setElemType(elemType)
                        .setShape(TensorShapeProto.newBuilder().addAllDim(List.of(dims)))))
        .build();
  }
}
