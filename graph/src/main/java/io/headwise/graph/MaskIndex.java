package io.headwise.graph;

import java.util.List;

/**
 * The key masks of ONNX Runtime's {@code com.microsoft} Attention and MultiHeadAttention as a [B,
 * 1, S|1, T] bool "may attend" tensor, with ONNX Runtime's CPU semantics: a raw mask [B, T] or [B,
 * S, T] (value > 0 = attend), or a 1-D index — [B] end positions (right padding) or [2·B] end
 * positions followed by start positions (left padding); keys outside are masked. The 4-D Megatron
 * form is refused (ONNX Runtime's CPU kernel does not implement it either).
 */
final class MaskIndex {
  private MaskIndex() {}

  /**
   * The rank of {@code tensor}: declared, or through Cast/Identity/Unsqueeze to a declared tensor;
   * -1 if unknown.
   */
  static int rank(GraphIndex index, String tensor) {
    for (int depth = 0; depth < 8; depth++) {
      int r = FusedAttention.declaredRank(index, tensor);
      if (r >= 0) {
        return r;
      }
      var p = index.producer(tensor);
      if (p.isEmpty()) {
        return -1;
      }
      String op = p.get().getOpType();
      if (op.equals("Cast") || op.equals("Identity")) {
        tensor = p.get().getInput(0);
      } else if (op.equals("ReduceSum") && GraphIndex.intAttribute(p.get(), "keepdims", 1) == 0) {
        int in = rank(index, p.get().getInput(0));
        List<Long> axes = GraphIndex.intsAttribute(p.get(), "axes");
        double[] axesInput =
            p.get().getInputCount() > 1 ? index.constantValues(p.get().getInput(1)) : null;
        int removed = axes != null ? axes.size() : axesInput != null ? axesInput.length : -1;
        return in < 0 || removed < 0 ? -1 : in - removed;
      } else {
        return -1;
      }
    }
    return -1;
  }

  /**
   * [B, 1, S or 1, T] bool from {@code mask} of rank {@code rank}; {@code keys} is K [B, H, T, D]
   * (for T) and {@code batch} a [1] int64 tensor holding B.
   */
  static String allowed(
      FusedNode n, FusedCoreBuilder b, String mask, int rank, String keys, String batch) {
    GraphBuilder g = b.graph();
    String total = b.scalar(b.dim(keys, 2));
    String kpos = g.op("Range", g.constLong(0), total, g.constLong(1)); // [T]
    switch (rank) {
      case 2: // [B, T]
        return g.unsqueeze(g.op("Greater", g.cast(mask, ElementType.INT64), g.constLong(0)), 1, 2);
      case 3: // [B, S, T]
        return g.unsqueeze(g.op("Greater", g.cast(mask, ElementType.INT64), g.constLong(0)), 1);
      case 1:
        {
          // [B] ends, or [2B] ends then starts: pad with B zeros so that elements B..2B are the
          // starts (or zeros)
          String m = g.cast(mask, ElementType.INT64);
          String padded =
              g.op(
                  "Concat",
                  List.of(
                      m,
                      g.op(
                          "ConstantOfShape",
                          List.of(batch),
                          GraphBuilder.tensorAttr("value", Tensors.longs("", new long[] {1}, 0)))),
                  GraphBuilder.intAttr("axis", 0));
          String end = g.op("Slice", padded, g.constLongs(true, 0), batch, g.constLongs(true, 0));
          String start =
              g.op("Slice", padded, batch, g.op("Add", batch, batch), g.constLongs(true, 0));
          String col = g.constLongs(true, -1, 1, 1, 1);
          String ends = g.op("Reshape", end, col);
          String starts = g.op("Reshape", start, col);
          return g.op("And", g.less(kpos, ends), g.greaterOrEqual(kpos, starts)); // [B, 1, 1, T]
        }
      case 4:
        throw n.refuse(
            "a 4-D mask_index (Megatron form) is not supported (nor by ONNX Runtime's CPU kernel)");
      default:
        throw n.refuse(
            "the rank of the mask input '"
                + mask
                + "' cannot be read from the graph; declare its shape");
    }
  }

  /** [S, T] bool: query i (at position P + i) may see key j ≤ P + i. */
  static String causal(FusedCoreBuilder b, String pos, String keys) {
    GraphBuilder g = b.graph();
    String total = b.scalar(b.dim(keys, 2));
    String kpos = g.op("Range", g.constLong(0), total, g.constLong(1));
    return g.lessOrEqual(kpos, g.unsqueeze(pos, 1));
  }
}
