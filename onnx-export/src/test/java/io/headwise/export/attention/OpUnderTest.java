package io.headwise.export.attention;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import io.headwise.export.attention.AttentionTestSupport.Output;
import io.headwise.export.attention.ReferenceAttention.Attributes;
import io.headwise.export.attention.ReferenceAttention.Tensor4;
import io.headwise.graph.AttentionProbe;
import io.headwise.graph.OnnxModel;
import io.headwise.graph.Tensors;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Runs an exported model with every HeadwiseAttention node's inputs and output exposed, and
 * compares each node's output to {@link ReferenceAttention} computed from the same inputs and the
 * node's own attributes.
 */
final class OpUnderTest {
  /**
   * Per layer: max |ORT − reference| over valid queries, and the smallest budget selection gap
   * seen.
   */
  record Comparison(double[] maxDifference, double minSelectionGap, double maxOutput) {
    double worst() {
      double w = 0;
      for (double d : maxDifference) {
        w = Math.max(w, d);
      }
      return w;
    }
  }

  private OpUnderTest() {}

  static List<NodeProto> opNodes(ModelProto proto) {
    return proto.getGraph().getNodeList().stream()
        .filter(n -> n.getOpType().equals(HeadwiseAttentionOp.OP_TYPE))
        .toList();
  }

  static Attributes attributes(NodeProto node) {
    Map<String, double[]> a = new HashMap<>();
    for (AttributeProto attr : node.getAttributeList()) {
      a.put(attr.getName(), Tensors.toDoubles(attr.getT()));
    }
    return new Attributes(
        longs(a.get(HeadwiseAttentionOp.ATTR_KINDS)),
        longs(a.get(HeadwiseAttentionOp.ATTR_SINK_TOKENS)),
        floats(a.get(HeadwiseAttentionOp.ATTR_ALPHA)),
        floats(a.get(HeadwiseAttentionOp.ATTR_BETA)),
        longs(a.get(HeadwiseAttentionOp.ATTR_BUDGET_TOKENS)),
        longs(a.get(HeadwiseAttentionOp.ATTR_RECENT_TOKENS)),
        longs(a.get(HeadwiseAttentionOp.ATTR_BUDGET_GROUPS)),
        longs(a.get(HeadwiseAttentionOp.ATTR_KV_HEADS)),
        (float) a.get(HeadwiseAttentionOp.ATTR_SCALE)[0],
        a.get(HeadwiseAttentionOp.ATTR_CAUSAL)[0] != 0,
        longs(a.get(HeadwiseAttentionOp.ATTR_COMPENSATION)),
        a.containsKey(HeadwiseAttentionOp.ATTR_SOFTCAP)
            ? a.get(HeadwiseAttentionOp.ATTR_SOFTCAP)[0]
            : 0);
  }

  /**
   * Compares every op of {@code exported} with the reference on a batch (queries with mask 0 are
   * skipped).
   */
  static Comparison compare(OnnxModel model, ModelProto exported, long[][] ids, long[][] mask)
      throws Exception {
    List<NodeProto> ops = opNodes(exported);
    Set<String> tensors = new LinkedHashSet<>();
    for (NodeProto n : ops) {
      tensors.addAll(n.getInputList());
      tensors.add(n.getOutput(0));
    }
    Map<String, String> names = new HashMap<>();
    ModelProto exposed = AttentionProbe.exposeAsFloat(exported, tensors, names);
    Map<String, Output> values =
        AttentionTestSupport.run(model, exposed, ids, mask, new LinkedHashSet<>(names.values()));
    double[] maxDiff = new double[ops.size()];
    double gap = Double.POSITIVE_INFINITY;
    double maxOut = 0;
    for (int l = 0; l < ops.size(); l++) {
      NodeProto n = ops.get(l);
      Tensor4 q = tensor(values.get(names.get(n.getInput(0))));
      Tensor4 k = tensor(values.get(names.get(n.getInput(1))));
      Tensor4 v = tensor(values.get(names.get(n.getInput(2))));
      Tensor4 m = tensor(values.get(names.get(n.getInput(3))));
      Output actual = values.get(names.get(n.getOutput(0)));
      ReferenceAttention reference = new ReferenceAttention();
      double[] expected = reference.attend(q, k, v, m, attributes(n));
      gap = Math.min(gap, reference.minSelectionGap);
      int heads = q.d(1);
      int tq = q.d(2);
      int dv = v.d(3);
      for (int b = 0; b < q.d(0); b++) {
        for (int h = 0; h < heads; h++) {
          for (int i = 0; i < tq; i++) {
            if (mask[b][ids[0].length - tq + i] == 0) {
              continue;
            }
            for (int x = 0; x < dv; x++) {
              int at = ((b * heads + h) * tq + i) * dv + x;
              maxDiff[l] = Math.max(maxDiff[l], Math.abs(actual.values()[at] - expected[at]));
              maxOut = Math.max(maxOut, Math.abs(expected[at]));
            }
          }
        }
      }
    }
    return new Comparison(maxDiff, gap, maxOut);
  }

  /** A tensor of rank ≤ 4 as a 4-D one (leading size-1 dims added). */
  private static Tensor4 tensor(Output o) {
    long[] shape = new long[] {1, 1, 1, 1};
    int offset = 4 - o.shape().length;
    for (int i = 0; i < o.shape().length; i++) {
      shape[offset + i] = o.shape()[i];
    }
    return new Tensor4(o.values(), shape);
  }

  private static long[] longs(double[] v) {
    long[] out = new long[v.length];
    for (int i = 0; i < v.length; i++) {
      out[i] = (long) v[i];
    }
    return out;
  }

  private static float[] floats(double[] v) {
    float[] out = new float[v.length];
    for (int i = 0; i < v.length; i++) {
      out[i] = (float) v[i];
    }
    return out;
  }

  static List<String> names(List<NodeProto> nodes) {
    List<String> out = new ArrayList<>();
    nodes.forEach(n -> out.add(n.getName()));
    return out;
  }
}
