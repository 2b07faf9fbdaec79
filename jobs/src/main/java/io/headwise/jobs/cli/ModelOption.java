package io.headwise.jobs.cli;

import io.headwise.graph.OnnxModel;
import picocli.CommandLine.Option;

/**
 * {@code --model PATH|default} of the steps that read one ONNX model ({@code inspect}, {@code
 * stats}, {@code calibrate}, {@code profile}, {@code quantize}).
 */
public final class ModelOption {
  @Option(
      names = OptionNames.MODEL,
      paramLabel = "PATH",
      defaultValue = "default",
      description =
          "ONNX model file, or 'default' for the embedded all-MiniLM-L6-v2 (default: ${DEFAULT-VALUE}).")
  public String model;

  /** The model {@code --model} names ({@link OnnxModel#load(String)}). */
  public OnnxModel load() {
    return OnnxModel.load(model);
  }
}
