package io.headwise.graph;

import static org.junit.jupiter.api.Assertions.fail;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Paths of the real models the tests read in place from ../shared/models (never copied into the
 * repository).
 */
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

  /**
   * A missing fixture fails the test (never a silent skip): CI and every dev checkout have
   * ../shared.
   */
  private static Path require(Path p) {
    if (!Files.exists(p)) {
      fail(
          "shared fixture missing: "
              + p
              + " (tests read the real models from ../shared/models next to the"
              + " checkout, or from -Dheadwise.shared.dir=DIR)");
    }
    return p;
  }
}
