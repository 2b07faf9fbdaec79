package io.headwise.jobs.cli;

import picocli.CommandLine.Option;

/**
 * {@code --ship-model} of the Spark steps whose executors load the model ({@code profile}, {@code
 * quantize}).
 */
public final class ShipModelOption {
  @Option(
      names = OptionNames.SHIP_MODEL,
      description =
          "Send the model and its external-data files to executors with SparkContext.addFile instead of"
              + " reading them from a shared filesystem path.")
  public boolean shipModel;
}
