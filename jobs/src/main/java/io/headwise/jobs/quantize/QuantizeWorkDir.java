package io.headwise.jobs.quantize;

import io.headwise.schemas.HeadwiseException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.UUID;
import java.util.stream.Stream;

/**
 * The private working directory of one quantize run, next to {@code --out} (so that working models
 * sit on the same filesystem as the result): the rotated model and the partly quantized models of
 * {@code --capture sequential} live here. Created on first use, deleted with everything in it by
 * {@link #close}, whether the run succeeded or not.
 */
final class QuantizeWorkDir implements AutoCloseable {
  private final Path target;
  private Path dir;

  /** A working directory for a run writing {@code target} (nothing is created yet). */
  QuantizeWorkDir(Path target) {
    this.target = target.toAbsolutePath().normalize();
  }

  /** The directory, created on the first call. */
  Path path() {
    if (dir == null) {
      Path d = target.resolveSibling("." + target.getFileName() + ".work-" + UUID.randomUUID());
      try {
        Files.createDirectories(d);
      } catch (IOException e) {
        throw new HeadwiseException(
            "cannot create a working directory next to --out: " + e.getMessage(), e);
      }
      dir = d;
    }
    return dir;
  }

  /**
   * Deletes a working model file and its data file, if any (sessions already hold what they
   * loaded).
   */
  static void deleteModelFiles(Path model) {
    if (model == null) {
      return;
    }
    try {
      Files.deleteIfExists(QuantizeModelFiles.dataFile(model));
      Files.deleteIfExists(model);
    } catch (IOException e) {
      System.err.println("headwise quantize: could not remove " + model + ": " + e.getMessage());
    }
  }

  /** Deletes the directory and everything in it; a no-op when it was never created. */
  @Override
  public void close() {
    if (dir == null) {
      return;
    }
    try (Stream<Path> s = Files.walk(dir)) {
      for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    } catch (IOException e) {
      System.err.println("headwise quantize: could not remove " + dir + ": " + e.getMessage());
    }
    dir = null;
  }
}
