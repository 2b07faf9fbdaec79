package io.headwise.jobs.cli;

import io.headwise.jobs.warehouse.DeltaRetry;
import io.headwise.schemas.HeadwiseException;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine;

/**
 * Runs a headwise command: config-file defaults ({@code --config}); option checks before the
 * command starts (so before Spark does); one line {@code headwise: error: ...} and exit code 2 for
 * input the user can fix (with one usage hint line for command-line errors); one line naming the
 * cause and the log file holding the stack trace, exit code 1, for everything else (I/O failures, a
 * full disk, bugs). {@value #VERBOSE} anywhere on the command line also prints the trace to stderr.
 */
public final class Cli {
  /** Exit code for bad input (also picocli's code for usage errors). */
  public static final int EXIT_BAD_INPUT = 2;

  public static final int EXIT_FAILURE = 1;

  /** Prints stack traces of unexpected failures to stderr as well as to the log file. */
  public static final String VERBOSE = "--verbose";

  /**
   * Directory for the trace log files of unexpected failures (default: {@code
   * <java.io.tmpdir>/headwise-logs}).
   */
  public static final String LOG_DIR_PROPERTY = "headwise.log.dir";

  private Cli() {}

  /** Parses {@code args} for {@code command} and runs it; returns the exit code. */
  public static int run(Object command, String... args) {
    List<String> rest = new ArrayList<>();
    boolean verbose = false;
    for (String a : args) {
      if (a.equals(VERBOSE)) {
        verbose = true;
      } else {
        rest.add(a);
      }
    }
    String[] argv = rest.toArray(new String[0]);
    boolean trace = verbose;
    CommandLine cli = new CommandLine(command);
    cli.setExecutionExceptionHandler((e, c, parsed) -> handle(e, c, trace));
    cli.setParameterExceptionHandler(Cli::usageError);
    cli.setCaseInsensitiveEnumValuesAllowed(true);
    ConfigFileDefaults defaults;
    try {
      Path config = configArgument(argv);
      defaults = config == null ? null : new ConfigFileDefaults(config);
    } catch (HeadwiseException e) {
      System.err.println("headwise: error: " + e.getMessage());
      return EXIT_BAD_INPUT;
    }
    if (defaults != null) {
      cli.setDefaultValueProvider(defaults);
    }
    cli.setExecutionStrategy(
        parsed -> {
          CommandLine.ParseResult leaf = parsed;
          while (leaf.subcommand() != null) {
            leaf = leaf.subcommand();
          }
          try {
            if (defaults != null) {
              defaults.validate(leaf.commandSpec());
            }
            OptionChecks.check(leaf.commandSpec());
          } catch (HeadwiseException e) {
            throw new CommandLine.ParameterException(
                leaf.commandSpec().commandLine(), e.getMessage());
          }
          return new CommandLine.RunLast().execute(parsed);
        });
    return cli.execute(argv);
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

  /** A command-line error: one error line and one hint line instead of the whole usage text. */
  private static int usageError(CommandLine.ParameterException e, String[] args) {
    CommandLine c = e.getCommandLine();
    PrintWriter err = c.getErr();
    err.println("headwise: error: " + String.valueOf(e.getMessage()).replace('\n', ' '));
    err.println(
        "Usage: "
            + c.getCommandSpec().qualifiedName()
            + " [OPTIONS]; '"
            + c.getCommandSpec().qualifiedName()
            + " --help' lists them.");
    err.flush();
    return EXIT_BAD_INPUT;
  }

  private static int handle(Exception e, CommandLine cli, boolean verbose) {
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
    String where = log(e);
    if (verbose || where == null) {
      e.printStackTrace(err);
    }
    err.println(
        "headwise: error: " + cause(e) + (where == null ? "" : " (stack trace in " + where + ")"));
    err.flush();
    return EXIT_FAILURE;
  }

  /** One line for an unexpected failure: our own message when we raised it, else the root cause. */
  static String cause(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof DeltaRetry.ConflictException) {
        return firstLine(t.getMessage());
      }
    }
    Throwable root = e;
    while (root.getCause() != null && root.getCause() != root) {
      root = root.getCause();
    }
    String m = firstLine(root.getMessage());
    String hint =
        root instanceof OutOfMemoryError
            ? " (the JVM ran out of memory: give it more, e.g. HEADWISE_JAVA_OPTS=-Xmx16g, or"
                + " --driver-memory/--executor-memory under spark-submit)"
            : "";
    return root.getClass().getName() + (m.isEmpty() ? "" : ": " + m) + hint;
  }

  private static String firstLine(String s) {
    String m = s == null ? "" : s.strip();
    int nl = m.indexOf('\n');
    m = nl < 0 ? m : m.substring(0, nl);
    return m.length() > 300 ? m.substring(0, 300) + "..." : m;
  }

  /**
   * Writes the trace to a new log file; returns its path, or null when no log file could be
   * written.
   */
  private static String log(Throwable e) {
    try {
      String dir = System.getProperty(LOG_DIR_PROPERTY);
      Path d =
          dir != null
              ? Path.of(dir)
              : Path.of(System.getProperty("java.io.tmpdir"), "headwise-logs");
      Files.createDirectories(d);
      String name =
          "headwise-"
              + DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")
                  .withZone(ZoneOffset.UTC)
                  .format(Instant.now())
              + "-"
              + ProcessHandle.current().pid()
              + "-"
              + Long.toHexString(System.nanoTime())
              + ".log";
      StringWriter trace = new StringWriter();
      e.printStackTrace(new PrintWriter(trace));
      return Files.writeString(d.resolve(name), trace.toString(), StandardCharsets.UTF_8)
          .toString();
    } catch (IOException | RuntimeException io) {
      return null;
    }
  }
}
