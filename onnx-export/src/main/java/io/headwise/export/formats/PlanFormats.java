package io.headwise.export.formats;

import io.headwise.graph.AtomicFiles;
import io.headwise.schemas.HeadwiseException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** Registry of the engine plan formats by name: duo, moa, hf. */
public final class PlanFormats {
  private static final Map<String, PlanFormat> FORMATS = new LinkedHashMap<>();

  static {
    for (PlanFormat f :
        List.of(new DuoAttentionFormat(), new MoaFormat(), new HfLayerTypesFormat())) {
      FORMATS.put(f.name(), f);
    }
  }

  private PlanFormats() {}

  public static List<String> names() {
    return List.copyOf(FORMATS.keySet());
  }

  /** The format called {@code name}; HeadwiseException listing the valid names when unknown. */
  public static PlanFormat get(String name) {
    PlanFormat f = name == null ? null : FORMATS.get(name.trim().toLowerCase(Locale.ROOT));
    if (f == null) {
      throw new HeadwiseException(
          "unknown plan format '"
              + name
              + "'; valid formats: "
              + String.join(", ", FORMATS.keySet()));
    }
    return f;
  }

  /** Writes a format's files into the new directory {@code outputDir}, all or none. */
  static void writeFiles(Path outputDir, Map<String, byte[]> files) {
    try {
      AtomicFiles.writeNewDirectory(outputDir, files);
    } catch (IOException e) {
      throw new UncheckedIOException(
          "cannot write plan files to " + outputDir.toAbsolutePath().normalize(), e);
    }
  }
}
