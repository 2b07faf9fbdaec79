package io.headwise.graph;

import io.headwise.schemas.HeadwiseException;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.stream.Stream;

/**
 * The project's one way to put a file in place: write it under a hidden temporary name next to the
 * target, then rename it over the target. A reader sees the old file or the whole new one, never a
 * partial one, and a failed write leaves the target as it was (the temporary is removed). Every
 * output a step writes outside the warehouse (models and their external data, calibration JSONL,
 * reports, engine plan files) goes through here; the warehouse has Delta's transactions instead.
 *
 * <p>Outputs made of several files (a model and its external data) are staged together ({@link
 * Staged}) and moved into place in a stated order; a directory of files is written whole ({@link
 * #writeNewDirectory}).
 *
 * <p>Temporaries are siblings of their target ({@code .<name>.<uuid>.tmp}) because a rename is
 * atomic only within one file system, and they are created with the process's default permissions
 * (not {@link Files#createTempFile}'s owner-only ones), since outputs are meant to be shared.
 */
public final class AtomicFiles {
  private AtomicFiles() {}

  /** Writes a file's whole content to a stream. */
  @FunctionalInterface
  public interface Content {
    void writeTo(OutputStream out) throws IOException;
  }

  /** Writes text to a writer (UTF-8). */
  @FunctionalInterface
  public interface TextContent {
    void writeTo(Writer out) throws IOException;
  }

  /** A fresh hidden name next to {@code target}, for a temporary file or directory. */
  public static Path tempSibling(Path target) {
    Path t = target.toAbsolutePath().normalize();
    return t.resolveSibling("." + t.getFileName() + "." + UUID.randomUUID() + ".tmp");
  }

  /**
   * Writes {@code target} (creating its parent directories) through a temporary sibling renamed
   * over it.
   */
  public static void write(Path target, Content content) throws IOException {
    Path t = target.toAbsolutePath().normalize();
    Files.createDirectories(t.getParent());
    Path temp = tempSibling(t);
    try {
      try (OutputStream os =
          new BufferedOutputStream(
              Files.newOutputStream(temp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE),
              1 << 16)) {
        content.writeTo(os);
      }
      move(temp, t);
      temp = null;
    } finally {
      deleteQuietly(temp);
    }
  }

  /** {@link #write(Path, Content)} for UTF-8 text. */
  public static void writeText(Path target, TextContent content) throws IOException {
    write(
        target,
        os -> {
          Writer w = new OutputStreamWriter(os, StandardCharsets.UTF_8);
          content.writeTo(w);
          w.flush();
        });
  }

  /** {@link #write(Path, Content)} for a string (UTF-8). */
  public static void writeString(Path target, String text) throws IOException {
    writeText(target, w -> w.write(text));
  }

  /**
   * Writes a new directory of files whole: they are written into a hidden temporary sibling
   * directory that is then renamed to {@code target}. An existing empty directory is replaced; a
   * file or a non-empty directory at {@code target} is refused (nothing is overwritten).
   *
   * @param files file name (relative to {@code target}) to content
   */
  public static void writeNewDirectory(Path target, Map<String, byte[]> files) throws IOException {
    Path t = target.toAbsolutePath().normalize();
    if (Files.exists(t)) {
      if (!Files.isDirectory(t)) {
        throw new HeadwiseException(
            "output path " + t + " is a file; pass a directory that does not exist");
      }
      try (DirectoryStream<Path> entries = Files.newDirectoryStream(t)) {
        if (entries.iterator().hasNext()) {
          throw new HeadwiseException(
              "output directory " + t + " is not empty; choose a new directory or delete it first");
        }
      }
    }
    Files.createDirectories(t.getParent());
    Path temp = tempSibling(t);
    try {
      Files.createDirectory(temp);
      for (Map.Entry<String, byte[]> f : files.entrySet()) {
        Files.write(temp.resolve(f.getKey()), f.getValue());
      }
      Files.deleteIfExists(t);
      move(temp, t);
      temp = null;
    } finally {
      deleteRecursively(temp);
    }
  }

  /**
   * Files that must appear together (a model and its external data): each is written under its
   * final name into one hidden temporary directory next to the target directory, so that the staged
   * set already works (relative references resolve), then {@link #commit} moves them into the
   * target directory in the order they were first named. Name the files a reader depends on last
   * (data before the model that references it). {@link #discard} (or {@link #close} before a
   * commit) deletes the temporaries.
   */
  public static final class Staged implements AutoCloseable {
    private final Path targetDir;
    private final Path tempDir;
    private final List<String> order = new ArrayList<>();
    private boolean committed;

    private Staged(Path targetDir, Path tempDir) {
      this.targetDir = targetDir;
      this.tempDir = tempDir;
    }

    /**
     * Stages files for {@code anchor}'s directory (creating it); the temporary directory is named
     * after {@code anchor}, the main file of the set.
     */
    public static Staged next(Path anchor) throws IOException {
      Path a = anchor.toAbsolutePath().normalize();
      Files.createDirectories(a.getParent());
      Path temp = tempSibling(a);
      Files.createDirectory(temp);
      return new Staged(a.getParent(), temp);
    }

    /** The staged path of {@code name}, which {@link #commit} moves to the target directory. */
    public Path file(String name) {
      if (!order.contains(name)) {
        order.add(name);
      }
      return tempDir.resolve(name);
    }

    /** Where {@code name} lands on commit. */
    public Path target(String name) {
      return targetDir.resolve(name);
    }

    /** True once every file has been moved into place. */
    public boolean committed() {
      return committed;
    }

    /**
     * Moves the staged files that exist into place in the order they were named, then removes the
     * temporary directory. On failure the files not yet moved are deleted.
     */
    public void commit() throws IOException {
      try {
        for (String name : order) {
          Path from = tempDir.resolve(name);
          if (Files.exists(from)) {
            Path to = targetDir.resolve(name);
            Files.createDirectories(to.getParent());
            move(from, to);
          }
        }
        committed = true;
      } finally {
        deleteRecursively(tempDir);
      }
    }

    /** Deletes the temporaries (no-op after {@link #commit}). */
    public void discard() {
      if (!committed) {
        deleteRecursively(tempDir);
      }
    }

    @Override
    public void close() {
      discard();
    }
  }

  /**
   * Renames {@code from} over {@code to}: atomically where the file system can, else a plain
   * replacing move (some network and FUSE file systems refuse atomic renames).
   */
  public static void move(Path from, Path to) throws IOException {
    try {
      Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } catch (AtomicMoveNotSupportedException e) {
      Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
    }
  }

  /** Deletes a temporary file if it exists; failures are ignored (its name says what it was). */
  public static void deleteQuietly(Path p) {
    if (p == null) {
      return;
    }
    try {
      Files.deleteIfExists(p);
    } catch (IOException ignored) {
      // best effort: a hidden temporary named after its target, harmless if left behind
    }
  }

  /** Deletes a temporary directory and everything under it, ignoring failures. */
  public static void deleteRecursively(Path dir) {
    if (dir == null || !Files.exists(dir)) {
      return;
    }
    try (Stream<Path> walk = Files.walk(dir)) {
      walk.sorted(Comparator.reverseOrder()).forEach(AtomicFiles::deleteQuietly);
    } catch (IOException ignored) {
      // best effort, as above
    }
  }
}
