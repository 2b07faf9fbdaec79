package io.headwise.graph;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;

/**
 * The committed real-exporter fixtures: tiny random-weight transformers exported with {@code
 * torch.onnx} (TorchScript and dynamo exporters) by {@code tools/fixtures/export_fixtures.py},
 * under the test resource folder {@value #ROOT}, with {@code manifest.json} giving every file's
 * expected attention map. The files are read through the class loader, so the tests of later
 * modules find them in graph's test-jar; {@link #materialize} copies one fixture (with its external
 * data) into a folder so that it can be loaded by path.
 */
public final class RealExports {
  /** Class-path folder of the fixtures. */
  public static final String ROOT = "exports/";

  private RealExports() {}

  /** One fused attention op the locator must report as unsupported. */
  public record Unsupported(String opType, String domain, int layer) {}

  /** The attention map implied by the config the fixture was exported from. */
  public record Expected(
      int numLayers,
      int numBlocks,
      int numHeads,
      int numKvHeads,
      int headDim,
      boolean causal,
      double scale,
      List<Unsupported> unsupported) {}

  /**
   * One manifest entry.
   *
   * @param name fixture name (also the test name)
   * @param model class-path-relative path of the {@code .onnx} file under {@link #ROOT}
   * @param files every file of the fixture (the model and its external data), relative to {@link
   *     #ROOT}
   * @param exporter {@code torchscript} or {@code dynamo}
   * @param postprocess null, or the ONNX Runtime optimisation the exported graph went through
   */
  public record Fixture(
      String name,
      String model,
      List<String> files,
      String arch,
      String attnImplementation,
      String exporter,
      int opset,
      String dtype,
      List<String> inputs,
      String postprocess,
      Expected expected) {

    /** True when the fixture has attention blocks that can be profiled. */
    public boolean profiled() {
      return expected.numBlocks() > 0;
    }

    /** True when the weights live in an external-data file next to the model. */
    public boolean externalData() {
      return files.size() > 1;
    }

    @Override
    public String toString() {
      return name;
    }
  }

  /** All manifest entries, in manifest order. */
  public static List<Fixture> fixtures() {
    JsonNode root;
    try (InputStream in = open("manifest.json")) {
      root = new ObjectMapper().readTree(in);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    List<Fixture> out = new ArrayList<>();
    for (JsonNode f : root.get("fixtures")) {
      JsonNode e = f.get("expected");
      List<Unsupported> unsupported = new ArrayList<>();
      for (JsonNode u : e.get("unsupported")) {
        unsupported.add(
            new Unsupported(
                u.get("op_type").asText(), u.get("domain").asText(), u.get("layer").asInt()));
      }
      Expected expected =
          new Expected(
              e.get("num_layers").asInt(),
              e.get("num_blocks").asInt(),
              e.get("num_heads").asInt(),
              e.get("num_kv_heads").asInt(),
              e.get("head_dim").asInt(),
              e.get("causal").asBoolean(),
              e.get("scale").asDouble(),
              List.copyOf(unsupported));
      out.add(
          new Fixture(
              f.get("name").asText(),
              f.get("model").asText(),
              strings(f.get("files")),
              f.get("arch").asText(),
              f.get("attn_implementation").asText(),
              f.get("exporter").asText(),
              f.get("opset").asInt(),
              f.get("dtype").asText(),
              strings(f.get("inputs")),
              f.get("postprocess").isNull() ? null : f.get("postprocess").asText(),
              expected));
    }
    return List.copyOf(out);
  }

  /**
   * Copies the fixture's files into {@code dir} (keeping their relative paths, so external data
   * stays next to its model) and returns the path of the model file.
   */
  public static Path materialize(Fixture fixture, Path dir) {
    try {
      for (String file : fixture.files()) {
        Path target = dir.resolve(file);
        Files.createDirectories(target.getParent());
        try (InputStream in = open(file)) {
          Files.copy(in, target, StandardCopyOption.REPLACE_EXISTING);
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return dir.resolve(fixture.model());
  }

  private static InputStream open(String file) throws IOException {
    InputStream in = RealExports.class.getClassLoader().getResourceAsStream(ROOT + file);
    if (in == null) {
      throw new IOException(
          "test resource "
              + ROOT
              + file
              + " is not on the class path"
              + " (regenerate with tools/fixtures/export_fixtures.py)");
    }
    return in;
  }

  private static List<String> strings(JsonNode array) {
    List<String> out = new ArrayList<>();
    array.forEach(n -> out.add(n.asText()));
    return List.copyOf(out);
  }
}
