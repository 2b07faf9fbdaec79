package io.headwise.export.formats;

import io.headwise.graph.AtomicFiles;
import io.headwise.schemas.HeadwiseException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * Writes a set of files into a new directory atomically (the directory form of {@link
 * AtomicFiles}): everything is written to a temporary sibling directory, which is then moved into
 * place, so a failure leaves no partial output.
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
      AtomicFiles.move(temp, target);
      temp = null;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write plan files to " + target, e);
    } finally {
      AtomicFiles.deleteRecursively(temp);
    }
  }
}
