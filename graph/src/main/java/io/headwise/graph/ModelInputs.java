package io.headwise.graph;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import io.headwise.schemas.HeadwiseException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;
import java.util.function.Supplier;

/**
 * The roles of a transformer graph's inputs: token ids (required), attention mask, token type ids,
 * position ids, and past key/value caches (fed empty). Any other input is an error that names it.
 * The element types of token type and position ids are those the graph declares (int64 unless it
 * says int32).
 */
public record ModelInputs(
    String inputIds,
    ElementType inputIdsType,
    Optional<String> attentionMask,
    ElementType attentionMaskType,
    Optional<String> tokenTypeIds,
    Optional<String> positionIds,
    List<PastInput> pastInputs,
    ElementType tokenTypeIdsType,
    ElementType positionIdsType) {

  /** Roles with int64 token type and position ids. */
  public ModelInputs(
      String inputIds,
      ElementType inputIdsType,
      Optional<String> attentionMask,
      ElementType attentionMaskType,
      Optional<String> tokenTypeIds,
      Optional<String> positionIds,
      List<PastInput> pastInputs) {
    this(
        inputIds,
        inputIdsType,
        attentionMask,
        attentionMaskType,
        tokenTypeIds,
        positionIds,
        pastInputs,
        ElementType.INT64,
        ElementType.INT64);
  }

  /**
   * A past key or value cache input, fed with zero length: dims [batch, kv heads, 0, head dim], or,
   * when {@code stacked}, [2, batch, kv heads, 0, head dim] (key and value stacked in one tensor,
   * as the older GPT-2 exports of ONNX Runtime's converter take them).
   */
  public record PastInput(
      String name, ElementType elemType, long kvHeads, long headDim, boolean stacked) {
    public PastInput(String name, ElementType elemType, long kvHeads, long headDim) {
      this(name, elemType, kvHeads, headDim, false);
    }

    /** The dims of the empty tensor fed for a batch of {@code batch} rows. */
    public long[] emptyShape(int batch) {
      return stacked
          ? new long[] {2, batch, kvHeads, 0, headDim}
          : new long[] {batch, kvHeads, 0, headDim};
    }
  }

  /** Assigns roles to the graph inputs that are not initializers. */
  public static ModelInputs of(GraphProto graph) {
    Set<String> inits = new HashSet<>();
    graph.getInitializerList().forEach(t -> inits.add(t.getName()));
    String ids = null;
    ElementType idsType = ElementType.INT64;
    String mask = null;
    ElementType maskType = ElementType.INT64;
    String tokenTypes = null;
    ElementType tokenTypesType = ElementType.INT64;
    String positions = null;
    ElementType positionsType = ElementType.INT64;
    List<PastInput> past = new ArrayList<>();
    for (ValueInfoProto v : graph.getInputList()) {
      if (inits.contains(v.getName())) {
        continue;
      }
      String n = v.getName().toLowerCase(Locale.ROOT);
      ElementType type =
          ElementType.find(v.getType().getTensorType().getElemType()).orElse(ElementType.UNDEFINED);
      if (n.equals("input_ids")
          || n.equals("input")
          || n.equals("ids")
          || n.equals("tokens")
          || n.endsWith("input_ids")) {
        ids = v.getName();
        idsType = type;
      } else if (n.contains("attention_mask") || n.equals("mask")) {
        mask = v.getName();
        maskType = type;
      } else if (n.contains("token_type")) {
        tokenTypes = v.getName();
        tokenTypesType = type == ElementType.INT32 ? ElementType.INT32 : ElementType.INT64;
      } else if (n.contains("position_ids")) {
        positions = v.getName();
        positionsType = type == ElementType.INT32 ? ElementType.INT32 : ElementType.INT64;
      } else if (n.startsWith("past")
          || n.contains("past_key")
          || n.contains("past_value")
          || n.contains("cache")) {
        List<TensorShapeProto.Dimension> dims = v.getType().getTensorType().getShape().getDimList();
        // [batch, heads, past, head dim], or [2, batch, heads, past, head dim] with key and value
        // stacked
        boolean stacked =
            dims.size() == 5 && dims.get(0).hasDimValue() && dims.get(0).getDimValue() == 2;
        int h = stacked ? 2 : 1;
        boolean known = dims.size() == 4 || stacked;
        long heads = known && dims.get(h).hasDimValue() ? dims.get(h).getDimValue() : -1;
        long headDim = known && dims.get(h + 2).hasDimValue() ? dims.get(h + 2).getDimValue() : -1;
        if (heads <= 0 || headDim <= 0) {
          throw new HeadwiseException(
              "graph input '"
                  + v.getName()
                  + "' is a past key/value cache without static"
                  + " head dims; export the model without a KV cache (use_cache=False)");
        }
        past.add(new PastInput(v.getName(), type, heads, headDim, stacked));
      } else {
        throw new HeadwiseException(
            "graph input '"
                + v.getName()
                + "' has no known role (expected input_ids,"
                + " attention_mask, token_type_ids, position_ids or past key/values); export the model with those inputs");
      }
    }
    if (ids == null) {
      throw new HeadwiseException(
          "the model has no token-id input (input_ids); headwise profiles transformer"
              + " language models whose first input is input_ids");
    }
    if (idsType != ElementType.INT64 && idsType != ElementType.INT32) {
      throw new HeadwiseException("graph input '" + ids + "' must be int64 or int32");
    }
    return new ModelInputs(
        ids,
        idsType,
        Optional.ofNullable(mask),
        maskType,
        Optional.ofNullable(tokenTypes),
        Optional.ofNullable(positions),
        List.copyOf(past),
        tokenTypesType,
        positionsType);
  }

  /**
   * The attention mask input, or, for a model without one, a tensor of ones shaped like the ids
   * (built with {@code g}; {@code idsShape} gives the ids' Shape and is only called then).
   */
  public String maskOrOnes(GraphBuilder g, Supplier<String> idsShape) {
    return attentionMask()
        .orElseGet(
            () ->
                g.op(
                    "ConstantOfShape",
                    List.of(idsShape.get()),
                    GraphBuilder.tensorAttr("value", Tensors.longVector("one", 1))));
  }
}
