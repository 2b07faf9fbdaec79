package io.headwise.jobs.cli;

import io.headwise.graph.OnnxModel;
import picocli.CommandLine.Option;

/**
 * The optional {@code --model PATH} of the steps that read rows another step wrote for a model
 * ({@code plan}, {@code export-format}, {@code publish}): a run or plan id may hold the rows of
 * several models, and this names the one whose rows are meant.
 */
public final class ModelFilterOption {
  @Option(
      names = OptionNames.MODEL,
      paramLabel = "PATH",
      description =
          "Only the rows of this model (needed when the run or plan id holds rows of several models).")
  public String model;

  /** The model id of the model {@code --model} names, or null without {@code --model}. */
  public String modelIdOrNull() {
    return model == null ? null : OnnxModel.load(model).modelId();
  }
}
