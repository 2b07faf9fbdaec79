package io.headwise.graph;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import io.headwise.schemas.HeadwiseException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * The roles of a transformer graph's inputs: token ids (required), attention mask, token type ids, position ids,
 * and past key/value caches (fed empty). Any other input is an error that names it.
 */
public record ModelInputs(
    String inputIds,
    int inputIdsType,
    Optional<String> attentionMask,
    int attentionMaskType,
    Optional<String> tokenTypeIds,
    Optional<String> positionIds,
    List<PastInput> pastInputs) {

  /** A past key or value cache input, fed with zero length; dims are [batch, kv heads, 0, head dim]. */
  public record PastInput(String name, int elemType, long kvHeads, long headDim) {}

  /** Assigns roles to the graph inputs that are not initializers. */
  public static ModelInputs of(GraphProto graph) {
    java.util.Set<String> inits = new java.util.HashSet<>();
    graph.getInitializerList().forEach(t -> inits.add(t.getName()));
    String ids = null;
    int idsType = 7;
    String mask = null;
    int maskType = 7;
    String tokenTypes = null;
    String positions = null;
    List<PastInput> past = new ArrayList<>();
    for (ValueInfoProto v : graph.getInputList()) {
      if (inits.contains(v.getName())) {
        continue;
      }
      String n = v.getName().toLowerCase(Locale.ROOT);
      int type = v.getType().getTensorType().getElemType();
      if (n.equals("input_ids") || n.equals("input") || n.equals("ids") || n.equals("tokens") || n.endsWith("input_ids")) {
        ids = v.getName();
        idsType = type;
      } else if (n.contains("attention_mask") || n.equals("mask")) {
        mask = v.getName();
        maskType = type;
      } else if (n.contains("token_type")) {
        tokenTypes = v.getName();
      } else if (n.contains("position_ids")) {
        positions = v.getName();
      } else if (n.startsWith("past") || n.contains("past_key") || n.contains("past_value") || n.contains("cache")) {
        List<TensorShapeProto.Dimension> dims = v.getType().getTensorType().getShape().getDimList();
        long heads = dims.size() == 4 && dims.get(1).hasDimValue() ? dims.get(1).getDimValue() : -1;
        long headDim = dims.size() == 4 && dims.get(3).hasDimValue() ? dims.get(3).getDimValue() : -1;
        if (heads <= 0 || headDim <= 0) {
          throw new HeadwiseException("graph input '" + v.getName() + "' is a past key/value cache without static"
              + " head dims; export the model without a KV cache (use_cache=False)");
        }
        past.add(new PastInput(v.getName(), type, heads, headDim));
      } else {
        throw new HeadwiseException("graph input '" + v.getName() + "' has no known role (expected input_ids,"
            + " attention_mask, token_type_ids, position_ids or past key/values); export the model with those inputs");
      }
    }
    if (ids == null) {
      throw new HeadwiseException("the model has no token-id input (input_ids); headwise profiles transformer"
          + " language models whose first input is input_ids");
    }
    if (idsType != 7 && idsType != 6) {
      throw new HeadwiseException("graph input '" + ids + "' must be int64 or int32");
    }
    return new ModelInputs(ids, idsType, Optional.ofNullable(mask), maskType, Optional.ofNullable(tokenTypes),
        Optional.ofNullable(positions), List.copyOf(past));
  }
}
