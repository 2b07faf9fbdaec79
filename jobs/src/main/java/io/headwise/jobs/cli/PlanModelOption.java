package io.headwise.jobs.cli;

import io.headwise.graph.OnnxModel;
import picocli.CommandLine.Option;

/**
 * {@code --model PATH|default} of the steps that apply a plan to its model ({@code export}, {@code
 * evaluate}).
 */
public final class PlanModelOption {
  @Option(
      names = OptionNames.MODEL,
      paramLabel = "PATH",
      defaultValue = "default",
      description = "The model the plan is for (default: ${DEFAULT-VALUE}).")
  public String model;

  /** The model {@code --model} names ({@link OnnxModel#load(String)}). */
  public OnnxModel load() {
    return OnnxModel.load(model);
  }
}
