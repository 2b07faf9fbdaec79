package io.headwise.graph;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;

/** Paths of the real models the tests read in place from ../shared/models (never copied into the repository). */
public final class TestModels {
  private TestModels() {}

  /** The shared fixtures directory: system property {@code headwise.shared.dir}, else ../shared. */
  public static Path sharedDir() {
    String prop = System.getProperty("headwise.shared.dir");
    Path p = prop != null ? Path.of(prop) : Path.of("..", "shared");
    if (!Files.isDirectory(p)) {
      p = Path.of("..", "..", "shared");
    }
    return p.toAbsolutePath().normalize();
  }

  public static Path stories260k() {
    return require(sharedDir().resolve("models/stories260k/stories260k.onnx"));
  }

  public static Path stories260kCalibration() {
    return require(sharedDir().resolve("models/stories260k/calib_ids.json"));
  }

  public static Path retrievalLm() {
    return require(sharedDir().resolve("models/retrieval-lm/retrieval_lm.onnx"));
  }

  public static Path retrievalLmCalibration() {
    return require(sharedDir().resolve("models/retrieval-lm/calib_ids.json"));
  }

  private static Path require(Path p) {
    assumeTrue(Files.exists(p), "shared fixture missing: " + p);
    return p;
  }
}
