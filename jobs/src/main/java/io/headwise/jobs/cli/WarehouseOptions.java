package io.headwise.jobs.cli;

import java.nio.file.Path;
import picocli.CommandLine.Option;

/** Where a Spark step runs and writes: warehouse root and Spark master. */
public final class WarehouseOptions {
  @Option(
      names = OptionNames.WAREHOUSE,
      paramLabel = "DIR",
      defaultValue = "warehouse",
      description = "Warehouse root; one Delta table per folder (default: ${DEFAULT-VALUE}).")
  public Path warehouse;

  @Option(
      names = OptionNames.MASTER,
      paramLabel = "URL",
      description = "Spark master (default: local[*], or what spark-submit sets).")
  public String master;
}
