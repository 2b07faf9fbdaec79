package io.headwise.export.attention;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.StringStringEntryProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import io.headwise.export.attention.HeadwiseAttentionExport.ExternalData;
import io.headwise.graph.AtomicFiles;
import io.headwise.graph.OnnxModel;
import io.headwise.schemas.HeadwiseException;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.TreeSet;

/**
 * Writes a rewritten model proto to disk without partial results: the file is written to a hidden
 * temporary sibling and moved into place. Weights kept as external data stay external and the
 * output always sits next to them (ONNX Runtime resolves locations against the model's directory
 * and newer releases refuse paths that leave it, symlinks included): when the output directory is
 * not the source model's, each data file is copied there, or hard-linked when asked (falling back
 * to a copy when linking is not possible). Copying is the default because the Python {@code onnx}
 * package (checker and {@code onnx.load}, 1.23) refuses data files with more than one hard link,
 * which a link would make of both the new and the source model's data.
 */
final class ModelFileWriter {
  /** Where the model went and how its data is stored. */
  record Written(Path output, ExternalData externalData, List<Path> dataFiles) {}

  private ModelFileWriter() {}

  static Written write(
      OnnxModel source, ModelProto proto, Path out, ExternalDataPlacement placement) {
    Path target = out.toAbsolutePath().normalize();
    if (Files.isDirectory(target)) {
      throw new HeadwiseException(
          "output path " + out + " is a directory; pass the path of the .onnx file to write");
    }
    Path dir = target.getParent();
    List<String> locations = externalLocations(proto);
    try {
      Files.createDirectories(dir);
    } catch (IOException e) {
      throw new UncheckedIOException(
          "cannot write the compressed model to " + target + ": " + e.getMessage(), e);
    }
    // data first, then the model that references it; nothing is in place before the commit
    try (AtomicFiles.Staged staged = AtomicFiles.Staged.next(target)) {
      ExternalData mode = ExternalData.EMBEDDED;
      List<Path> dataFiles = new ArrayList<>();
      if (!locations.isEmpty()) {
        Path dataDir =
            source
                .externalDataDir()
                .orElseThrow(
                    () ->
                        new HeadwiseException(
                            "model "
                                + source.source()
                                + " references external data but has no directory to resolve it against"));
        boolean sameDir = Files.isSameFile(dataDir, dir);
        mode =
            sameDir
                ? ExternalData.SAME_DIRECTORY
                : placement == ExternalDataPlacement.HARD_LINK
                    ? ExternalData.HARD_LINKED
                    : ExternalData.COPIED;
        for (String location : locations) {
          Path from = resolveInside(dataDir, location, source);
          Path to = resolveInside(dir, location, source);
          dataFiles.add(to);
          if (sameDir) {
            continue;
          }
          if (!Files.isRegularFile(from)) {
            throw new HeadwiseException(
                "external data file "
                    + from
                    + " of model "
                    + source.source()
                    + " is missing; keep the model's data files next to it");
          }
          if (Files.exists(to)) {
            if (!sameContent(from, to)) {
              throw new HeadwiseException(
                  "output directory "
                      + dir
                      + " already holds a different "
                      + location
                      + "; write the compressed model to another directory or remove that file");
            }
            continue;
          }
          if (placeData(from, staged.file(location), placement) == ExternalData.COPIED) {
            mode = ExternalData.COPIED;
          }
        }
      }
      try (OutputStream os =
          new BufferedOutputStream(
              Files.newOutputStream(staged.file(target.getFileName().toString())), 1 << 16)) {
        proto.writeTo(os);
      }
      staged.commit();
      return new Written(target, mode, List.copyOf(dataFiles));
    } catch (IOException e) {
      throw new UncheckedIOException(
          "cannot write the compressed model to " + target + ": " + e.getMessage(), e);
    }
  }

  /** Hard-links or copies {@code from} to the staged path {@code to}; returns how. */
  private static ExternalData placeData(Path from, Path to, ExternalDataPlacement placement)
      throws IOException {
    Files.createDirectories(to.getParent());
    if (placement == ExternalDataPlacement.HARD_LINK) {
      try {
        Files.createLink(to, from);
        return ExternalData.HARD_LINKED;
      } catch (UnsupportedOperationException | FileSystemException e) {
        // another file system or no link support: copy below
      }
    }
    Files.copy(from, to);
    return ExternalData.COPIED;
  }

  /** {@code dir/location}, refusing absolute locations and locations that leave {@code dir}. */
  private static Path resolveInside(Path dir, String location, OnnxModel source) {
    Path rel = Path.of(location);
    Path resolved = dir.resolve(rel).normalize();
    if (rel.isAbsolute() || !resolved.startsWith(dir.normalize())) {
      throw new HeadwiseException(
          "model "
              + source.source()
              + " stores weights at external location '"
              + location
              + "', outside its directory; ONNX Runtime refuses such paths: move the data next to the model and"
              + " re-save it with a relative location");
    }
    return resolved;
  }

  private static boolean sameContent(Path a, Path b) throws IOException {
    if (Files.isSameFile(a, b)) {
      return true;
    }
    if (Files.size(a) != Files.size(b)) {
      return false;
    }
    try (InputStream ia = Files.newInputStream(a);
        InputStream ib = Files.newInputStream(b)) {
      byte[] ba = new byte[1 << 16];
      byte[] bb = new byte[1 << 16];
      while (true) {
        int na = ia.readNBytes(ba, 0, ba.length);
        int nb = ib.readNBytes(bb, 0, bb.length);
        if (na != nb || !Arrays.equals(ba, 0, na, bb, 0, nb)) {
          return false;
        }
        if (na == 0) {
          return true;
        }
      }
    }
  }

  /** Distinct external-data locations referenced by the graph's initializers. */
  static List<String> externalLocations(ModelProto proto) {
    TreeSet<String> locations = new TreeSet<>();
    for (TensorProto t : proto.getGraph().getInitializerList()) {
      if (t.getDataLocation() == TensorProto.DataLocation.EXTERNAL) {
        for (StringStringEntryProto e : t.getExternalDataList()) {
          if (e.getKey().equals("location")) {
            locations.add(e.getValue());
          }
        }
      }
    }
    return new ArrayList<>(locations);
  }
}
