package io.headwise.profilers.calibration;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import io.headwise.graph.DefaultModel;
import io.headwise.profilers.CalibrationSample;
import io.headwise.schemas.HeadwiseException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Tokenizes text documents with a model's Hugging Face {@code tokenizer.json} (DJL tokenizers) and
 * cuts them into chunks of at most {@code maxLength} tokens, each with the tokenizer's special
 * tokens.
 */
public final class TextChunks implements AutoCloseable {
  private final HuggingFaceTokenizer tokenizer;
  private final int maxLength;

  private TextChunks(HuggingFaceTokenizer tokenizer, int maxLength) {
    this.tokenizer = tokenizer;
    this.maxLength = maxLength;
  }

  /**
   * Opens {@code tokenizerJson}, or the embedded default model's tokenizer when it is null and the
   * model is the default one; {@code modelSource} names the model in errors.
   */
  public static TextChunks open(
      Path tokenizerJson, boolean defaultModel, String modelSource, int maxLength) {
    if (maxLength < 4) {
      throw new HeadwiseException("--max-length must be at least 4, got " + maxLength);
    }
    Map<String, String> options =
        Map.of(
            "maxLength",
            String.valueOf(maxLength),
            "truncation",
            "true",
            "padding",
            "false",
            "stride",
            "0");
    try {
      if (tokenizerJson != null) {
        if (!Files.isRegularFile(tokenizerJson)) {
          throw new HeadwiseException("tokenizer file not found: " + tokenizerJson);
        }
        return new TextChunks(HuggingFaceTokenizer.newInstance(tokenizerJson, options), maxLength);
      }
      if (defaultModel) {
        try (InputStream in = DefaultModel.openTokenizer()) {
          return new TextChunks(HuggingFaceTokenizer.newInstance(in, options), maxLength);
        }
      }
    } catch (IOException | RuntimeException e) {
      if (e instanceof HeadwiseException he) {
        throw he;
      }
      throw new HeadwiseException(
          "cannot load tokenizer "
              + (tokenizerJson == null ? "(embedded)" : tokenizerJson)
              + ": "
              + e.getMessage(),
          e);
    }
    throw new HeadwiseException(
        "text calibration of model "
            + modelSource
            + " needs its Hugging Face tokenizer.json:"
            + " pass --tokenizer PATH (or put tokenizer.json next to the model)");
  }

  /** Chunks of each document, as samples {@code <prefix>text-<doc>-<chunk>}. */
  public List<CalibrationSample> chunk(String prefix, List<String> documents) {
    List<CalibrationSample> out = new ArrayList<>();
    for (int d = 0; d < documents.size(); d++) {
      String doc = documents.get(d).strip();
      if (doc.isEmpty()) {
        continue;
      }
      Encoding enc = tokenizer.encode(doc, true, true);
      List<Encoding> parts = new ArrayList<>();
      parts.add(enc);
      if (enc.getOverflowing() != null) {
        parts.addAll(List.of(enc.getOverflowing()));
      }
      for (int c = 0; c < parts.size(); c++) {
        long[] ids = parts.get(c).getIds();
        if (ids.length < 2) {
          continue;
        }
        int[] v = new int[ids.length];
        for (int k = 0; k < ids.length; k++) {
          v[k] = (int) ids[k];
        }
        out.add(
            CalibrationSample.of(
                prefix + "text-" + d + "-" + c, v, null, CalibrationSample.SOURCE_TEXT));
      }
    }
    return out;
  }

  public int maxLength() {
    return maxLength;
  }

  @Override
  public void close() {
    tokenizer.close();
  }
}
