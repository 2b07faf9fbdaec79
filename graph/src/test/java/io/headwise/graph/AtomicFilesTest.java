package io.headwise.graph;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.headwise.schemas.HeadwiseException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The one atomic writer: whole file or old file, never a partial one, and no temporaries left. */
class AtomicFilesTest {
  @TempDir Path dir;

  @Test
  void writesAndReplacesAndCreatesParents() throws IOException {
    Path target = dir.resolve("a/b/out.txt");
    AtomicFiles.writeString(target, "first");
    AtomicFiles.writeString(target, "second");
    assertEquals("second", Files.readString(target));
    assertEquals(List.of(target), files(target.getParent()));
  }

  @Test
  void aFailedWriteLeavesTheOldFileAndNoTemporary() throws IOException {
    Path target = dir.resolve("model.onnx");
    Files.writeString(target, "old");
    IOException e =
        assertThrows(
            IOException.class,
            () ->
                AtomicFiles.write(
                    target,
                    os -> {
                      os.write("partial".getBytes(StandardCharsets.UTF_8));
                      throw new IOException("disk full");
                    }));
    assertEquals("disk full", e.getMessage());
    assertEquals("old", Files.readString(target));
    assertEquals(List.of(target), files(dir));
  }

  @Test
  void aFailedFirstWriteLeavesNothing() {
    Path target = dir.resolve("report.html");
    assertThrows(
        IllegalStateException.class,
        () ->
            AtomicFiles.writeText(
                target,
                w -> {
                  w.write("<html>");
                  throw new IllegalStateException("renderer bug");
                }));
    assertFalse(Files.exists(target));
    assertEquals(List.of(), files(dir));
  }

  @Test
  void outputsGetThePermissionsOfAPlainWriteNotOwnerOnly() throws IOException {
    Path target = dir.resolve("shared.txt");
    AtomicFiles.writeString(target, "x");
    Path plain = Files.writeString(dir.resolve("plain.txt"), "x");
    // Files.createTempFile would force rw------- on a file meant to be shared (reports, models)
    assertEquals(Files.getPosixFilePermissions(plain), Files.getPosixFilePermissions(target));
  }

  @Test
  void stagedFilesAppearTogetherOnCommitAndNotAtAllOnDiscard() throws IOException {
    Path model = dir.resolve("m.onnx");
    try (AtomicFiles.Staged s = AtomicFiles.Staged.next(model)) {
      Files.writeString(s.file("m.onnx.data"), "weights");
      Files.writeString(s.file("m.onnx"), "graph");
      // staged under final names next to each other, nothing in place yet
      assertEquals("weights", Files.readString(s.file("m.onnx").resolveSibling("m.onnx.data")));
      assertFalse(Files.exists(model));
    }
    assertEquals(List.of(), files(dir));
    try (AtomicFiles.Staged s = AtomicFiles.Staged.next(model)) {
      Files.writeString(s.file("m.onnx.data"), "weights");
      Files.writeString(s.file("m.onnx"), "graph");
      s.commit();
    }
    assertEquals(List.of(model, dir.resolve("m.onnx.data")), files(dir));
    assertEquals("graph", Files.readString(model));
  }

  @Test
  void aNewDirectoryIsWrittenWholeAndANonEmptyOneIsRefused() throws IOException {
    Path out = dir.resolve("plan");
    AtomicFiles.writeNewDirectory(out, Map.of("a.json", new byte[] {1}, "b.json", new byte[] {2}));
    assertEquals(List.of(out.resolve("a.json"), out.resolve("b.json")), files(out));
    assertThrows(
        HeadwiseException.class,
        () -> AtomicFiles.writeNewDirectory(out, Map.of("c.json", new byte[] {3})));
    assertEquals(List.of(out), files(dir));
  }

  private static List<Path> files(Path d) {
    try (Stream<Path> s = Files.list(d)) {
      return s.sorted().toList();
    } catch (IOException e) {
      throw new AssertionError(e);
    }
  }
}
