package io.headwise.jobs.cli;

import java.nio.file.Path;
import picocli.CommandLine.Option;

/** The {@code --config FILE} option every command accepts (read by {@link Cli} before parsing). */
public final class ConfigOption {
  @Option(
      names = OptionNames.CONFIG,
      paramLabel = "FILE",
      description = "Properties file of option defaults (keys are option names without dashes).")
  Path config;
}
