package io.headwise.jobs.cli;

import java.nio.file.Path;
import picocli.CommandLine.Option;

/** Where a Spark step runs and writes: warehouse root, Spark master, history retention. */
public final class WarehouseOptions {
  public static final String KEEP_HISTORY = "--keep-history";

  @Option(names = OptionNames.WAREHOUSE, paramLabel = "DIR", defaultValue = "warehouse",
      description = "Warehouse root; one Delta table per folder (default: ${DEFAULT-VALUE}).")
  public Path warehouse;

  @Option(names = OptionNames.MASTER, paramLabel = "URL",
      description = "Spark master (default: local[*], or what spark-submit sets).")
  public String master;

  @Option(names = KEEP_HISTORY,
      description = "Keep the Parquet files of replaced rows (Delta time travel) instead of vacuuming them; plain"
          + " Parquet readers then also see old rows.")
  public boolean keepHistory;
}
