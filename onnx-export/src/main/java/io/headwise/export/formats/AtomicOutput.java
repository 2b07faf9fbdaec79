package io.headwise.export.formats;

import io.headwise.schemas.HeadwiseException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Writes a set of files into a new directory atomically: everything is written to a temporary
 * sibling directory, which is then moved into place, so a failure leaves no partial output.
 */
final class AtomicOutput {
  private AtomicOutput() {}

  static void write(Path outputDir, Map<String, byte[]> files) {
    Path target = outputDir.toAbsolutePath().normalize();
    if (Files.exists(target)) {
      if (!Files.isDirectory(target)) {
        throw new HeadwiseException(
            "output path " + target + " is a file; pass a directory that does not exist");
      }
      try (DirectoryStream<Path> entries = Files.newDirectoryStream(target)) {
        if (entries.iterator().hasNext()) {
          throw new HeadwiseException(
              "output directory "
                  + target
                  + " is not empty; choose a new directory or"
                  + " delete it first");
        }
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
    Path temp = null;
    try {
      Path parent = target.getParent();
      Files.createDirectories(parent);
      temp = Files.createTempDirectory(parent, "." + target.getFileName() + ".tmp-");
      for (Map.Entry<String, byte[]> f : files.entrySet()) {
        Files.write(temp.resolve(f.getKey()), f.getValue());
      }
      Files.deleteIfExists(target);
      try {
        Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE);
      } catch (AtomicMoveNotSupportedException e) {
        Files.move(temp, target);
      }
      temp = null;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write plan files to " + target, e);
    } finally {
      if (temp != null) {
        deleteRecursively(temp);
      }
    }
  }

  private static void deleteRecursively(Path dir) {
    try (Stream<Path> walk = Files.walk(dir)) {
      walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (IOException ignored) {
      // best effort: the temporary directory is hidden and named after the target
    }
  }
}
