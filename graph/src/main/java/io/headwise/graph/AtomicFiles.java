package io.headwise.graph;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Comparator;
import java.util.UUID;
import java.util.stream.Stream;

/**
 * The project's one way to put a file in place: write it under a hidden temporary name next to the
 * target, then rename it over the target. A reader sees the old file or the whole new one, never a
 * partial one, and a failed write leaves the target as it was (the temporary is removed). Every
 * output a step writes outside the warehouse (models and their external data, calibration JSONL,
 * reports, engine plan files) goes through here; the warehouse has Delta's transactions instead.
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
