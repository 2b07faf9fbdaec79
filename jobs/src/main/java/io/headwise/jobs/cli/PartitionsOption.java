package io.headwise.jobs.cli;

import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Option;

/**
 * {@code --partitions} of the Spark steps that spread samples over executors ({@code profile},
 * {@code evaluate}, {@code quantize}).
 */
public final class PartitionsOption {
  @Option(
      names = OptionNames.PARTITIONS,
      defaultValue = "0",
      description =
          "Spark partitions of the samples, per length bucket for profile (0 = the default"
              + " parallelism).")
  public int partitions;

  /** {@code --partitions}, or the session's default parallelism for 0. */
  public int resolve(SparkSession spark) {
    return partitions > 0 ? partitions : spark.sparkContext().defaultParallelism();
  }
}
