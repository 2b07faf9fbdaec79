package io.headwise.jobs.cli;

import io.headwise.schemas.HeadwiseException;
import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Properties;
import java.util.Set;
import picocli.CommandLine;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

/**
 * Default values from a Java properties config file ({@code --config FILE}): keys are option names
 * without the leading dashes. Command-line values win over the file, the file wins over built-in
 * defaults, and a key that is not an option of the command is rejected by name.
 */
final class ConfigFileDefaults implements CommandLine.IDefaultValueProvider {
  private final Path file;
  private final Properties values = new Properties();

  ConfigFileDefaults(Path file) {
    this.file = file;
    if (!Files.isRegularFile(file)) {
      throw new HeadwiseException(OptionNames.CONFIG + " file not found: " + file);
    }
    try (Reader r = Files.newBufferedReader(file)) {
      values.load(r);
    } catch (IOException e) {
      throw new HeadwiseException(
          "cannot read " + OptionNames.CONFIG + " file " + file + ": " + e.getMessage(), e);
    }
  }

  /** Rejects keys that are not options of {@code spec}. */
  void validate(CommandSpec spec) {
    Set<String> known = new HashSet<>();
    for (OptionSpec o : spec.options()) {
      for (String n : o.names()) {
        known.add(n.replaceFirst("^-+", ""));
      }
    }
    for (String key : values.stringPropertyNames()) {
      if (!known.contains(key)) {
        throw new HeadwiseException(
            "unknown option '"
                + key
                + "' in config file "
                + file
                + " for command '"
                + spec.qualifiedName()
                + "'; valid keys are the command's long options without dashes");
      }
    }
  }

  @Override
  public String defaultValue(ArgSpec arg) {
    if (arg instanceof OptionSpec o) {
      String key = o.longestName().replaceFirst("^-+", "");
      return values.getProperty(key);
    }
    return null;
  }
}
