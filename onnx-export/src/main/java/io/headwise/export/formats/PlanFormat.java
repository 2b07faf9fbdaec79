package io.headwise.export.formats;

import io.headwise.schemas.PlanMeta;
import io.headwise.schemas.PlanRow;
import java.nio.file.Path;
import java.util.List;

/**
 * One engine's plan format: writes a plan's rows into a new output directory, all files or none.
 */
public interface PlanFormat {
  /** The format name used on the command line: {@code duo}, {@code moa} or {@code hf}. */
  String name();

  /**
   * Writes the plan into {@code outputDir}, which must not exist or be empty; throws {@code
   * HeadwiseException} when the plan cannot be expressed in this format, naming the layer or head
   * that is the reason. Returns warnings: the ways the engine reading the files will run something
   * other than what was planned and evaluated (empty when it runs exactly the plan).
   */
  List<String> write(PlanMeta meta, List<PlanRow> rows, Path outputDir, FormatOptions options);

  /** {@link #write(PlanMeta, List, Path, FormatOptions)} with {@link FormatOptions#DEFAULTS}. */
  default List<String> write(PlanMeta meta, List<PlanRow> rows, Path outputDir) {
    return write(meta, rows, outputDir, FormatOptions.DEFAULTS);
  }
}
