package io.headwise.export.attention;

/**
 * How an export places the source model's external-data files next to an output written in another
 * directory (the output must sit next to its data; symlinks are never used: ONNX Runtime refuses
 * them).
 */
public enum ExternalDataPlacement {
  /** Copy each data file (the default: every ONNX tool accepts the result). */
  COPY,
  /**
   * Hard-link each data file, copying when linking is not possible (another file system). Saves the
   * disk space of a copy, but the Python {@code onnx} package (checker and {@code onnx.load}, 1.23)
   * refuses data files with more than one link, for the new model and for the source model alike;
   * ONNX Runtime (1.23, 1.30) accepts them.
   */
  HARD_LINK
}
