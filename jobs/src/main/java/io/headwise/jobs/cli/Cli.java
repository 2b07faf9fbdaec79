package io.headwise.jobs.cli;

import io.headwise.schemas.HeadwiseException;
import java.io.PrintWriter;
import java.nio.file.Path;
import picocli.CommandLine;

/**
 * Runs a headwise command: config-file defaults ({@code --config}), one-line errors with exit code 2 for input the
 * user can fix, and exit code 1 (with the stack trace) for bugs.
 */
public final class Cli {
  /** Exit code for bad input (also picocli's code for usage errors). */
  public static final int EXIT_BAD_INPUT = 2;
  public static final int EXIT_FAILURE = 1;

  private Cli() {}

  /** Parses {@code args} for {@code command} and runs it; returns the exit code. */
  public static int run(Object command, String... args) {
    CommandLine cli = new CommandLine(command);
    cli.setExecutionExceptionHandler(Cli::handle);
    cli.setCaseInsensitiveEnumValuesAllowed(true);
    ConfigFileDefaults defaults;
    try {
      Path config = configArgument(args);
      defaults = config == null ? null : new ConfigFileDefaults(config);
    } catch (HeadwiseException e) {
      System.err.println("headwise: error: " + e.getMessage());
      return EXIT_BAD_INPUT;
    }
    if (defaults != null) {
      cli.setDefaultValueProvider(defaults);
      cli.setExecutionStrategy(parsed -> {
        CommandLine.ParseResult leaf = parsed;
        while (leaf.subcommand() != null) {
          leaf = leaf.subcommand();
        }
        try {
          defaults.validate(leaf.commandSpec());
        } catch (HeadwiseException e) {
          throw new CommandLine.ParameterException(leaf.commandSpec().commandLine(), e.getMessage());
        }
        return new CommandLine.RunLast().execute(parsed);
      });
    }
    return cli.execute(args);
  }

  private static Path configArgument(String[] args) {
    for (int i = 0; i < args.length; i++) {
      if (args[i].equals(OptionNames.CONFIG) && i + 1 < args.length) {
        return Path.of(args[i + 1]);
      }
      if (args[i].startsWith(OptionNames.CONFIG + "=")) {
        return Path.of(args[i].substring(OptionNames.CONFIG.length() + 1));
      }
    }
    return null;
  }

  private static int handle(Exception e, CommandLine cli, CommandLine.ParseResult parsed) {
    PrintWriter err = cli.getErr();
    Throwable t = e;
    while (t != null && !(t instanceof HeadwiseException)) {
      t = t.getCause();
    }
    if (t != null) {
      err.println("headwise: error: " + String.valueOf(t.getMessage()).replace('\n', ' '));
      err.flush();
      return EXIT_BAD_INPUT;
    }
    e.printStackTrace(err);
    err.flush();
    return EXIT_FAILURE;
  }
}
