package io.headwise.graph;

import ai.onnx.proto.OnnxMl.StringStringEntryProto;
import com.fasterxml.jackson.databind.JsonNode;
import io.headwise.schemas.Json;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * The number of positions a model was built (trained) for, when something states it. (A learned
 * position table in the graph is a hard limit, {@link ModelLimits#maxPositions()}: longer samples
 * are refused, so no warning is needed.) A rotary decoder computes its positions in the graph and
 * runs at any length, so the graph cannot say how far it was trained (stories260k computes cos/sin
 * from inv_freq x positions; no tensor holds its 512); what states it is the model's Hugging Face
 * {@code config.json} next to the .onnx file (as Optimum exports lay it out) or the ONNX model's
 * metadata, under the key {@code max_position_embeddings} (or GPT-2's {@code n_positions}). Without
 * any of these the limit is unknown and longer sequences run without a warning.
 */
public record StatedPositions(long positions, String source) {
  /** Keys stating the trained context, in the order they are looked up. */
  static final List<String> KEYS = List.of("max_position_embeddings", "n_positions");

  /**
   * The stated positions of a model without a learned position table: its metadata, else a {@code
   * config.json} next to its file; empty when nothing states them, and for a model with a position
   * table (whose limit is enforced: longer samples are an error or cut by --truncate).
   */
  public static Optional<StatedPositions> of(OnnxModel m) {
    if (ModelLimits.of(m.graph(), ModelInputs.of(m.graph())).maxPositions() > 0) {
      return Optional.empty();
    }
    for (String key : KEYS) {
      for (StringStringEntryProto e : m.proto().getMetadataPropsList()) {
        if (e.getKey().equals(key)) {
          Optional<Long> n = positive(e.getValue());
          if (n.isPresent()) {
            return Optional.of(new StatedPositions(n.get(), "its ONNX metadata " + key));
          }
        }
      }
    }
    if (m.path().isEmpty()) {
      return Optional.empty();
    }
    Path parent = m.path().get().toAbsolutePath().getParent();
    Path config = parent == null ? null : parent.resolve("config.json");
    if (config == null || !Files.isRegularFile(config)) {
      return Optional.empty();
    }
    JsonNode json;
    try {
      json = Json.MAPPER.readTree(config.toFile());
    } catch (IOException e) { // not a Hugging Face config: it states nothing we can read
      return Optional.empty();
    }
    for (String key : KEYS) {
      JsonNode v = json == null ? null : json.get(key);
      if (v != null && v.canConvertToLong() && v.asLong() > 0) {
        return Optional.of(new StatedPositions(v.asLong(), key + " in " + config));
      }
    }
    return Optional.empty();
  }

  /**
   * The warning for sequences longer than the stated positions, or empty when none is: {@code
   * count} sequences, the longest {@code longest} tokens.
   */
  public Optional<String> warning(String model, long longest, long count) {
    if (longest <= positions) {
      return Optional.empty();
    }
    return Optional.of(
        "headwise: warning: "
            + count
            + (count == 1 ? " sequence is" : " sequences are")
            + " longer than the "
            + positions
            + " positions "
            + model
            + " was built for ("
            + source
            + "; longest "
            + longest
            + " tokens): positions beyond "
            + positions
            + " are extrapolation, statistics there may not describe the model as trained");
  }

  private static Optional<Long> positive(String s) {
    try {
      long n = Long.parseLong(s.strip());
      return n > 0 ? Optional.of(n) : Optional.empty();
    } catch (NumberFormatException e) {
      return Optional.empty();
    }
  }
}
