package io.headwise.jobs.cli;

import io.headwise.schemas.HeadwiseException;
import java.util.List;
import java.util.regex.Pattern;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

/**
 * Checks on options that many commands share, run after parsing and before the command starts (so
 * before Spark's start-up): ids are not blank, the warehouse is not a file, thread and partition
 * counts are not negative, the Spark master is a master URL.
 */
final class OptionChecks {
  private static final List<String> IDS =
      List.of(OptionNames.RUN_ID, OptionNames.PLAN_ID, OptionNames.STATS_RUN);
  private static final List<String> COUNTS = List.of(OptionNames.THREADS, OptionNames.PARTITIONS);

  /** The master URLs Spark accepts (Spark's "Master URLs" documentation). */
  private static final Pattern MASTER =
      Pattern.compile(
          "local(\\[(\\d+|\\*)(,\\d+)?])?|local-cluster\\[.+]" + "|(spark|k8s|mesos)://.+|yarn");

  private OptionChecks() {}

  static void check(CommandSpec spec) {
    for (String name : IDS) {
      OptionSpec o = spec.findOption(name);
      if (o != null && o.getValue() instanceof String s && s.isBlank()) {
        throw new HeadwiseException(name + " must not be empty");
      }
    }
    OptionSpec warehouse = spec.findOption(OptionNames.WAREHOUSE);
    if (warehouse != null
        && warehouse.getValue() instanceof java.nio.file.Path w
        && java.nio.file.Files.exists(w)
        && !java.nio.file.Files.isDirectory(w)) {
      throw new HeadwiseException("warehouse " + w + " is a file, not a directory");
    }
    OptionSpec master = spec.findOption(OptionNames.MASTER);
    if (master != null && master.getValue() instanceof String m && !MASTER.matcher(m).matches()) {
      throw new HeadwiseException(
          OptionNames.MASTER
              + " '"
              + m
              + "' is not a Spark master URL (local, local[N],"
              + " local[*], spark://HOST:PORT, yarn, k8s://URL)");
    }
    for (String name : COUNTS) {
      OptionSpec o = spec.findOption(name);
      if (o != null && o.getValue() instanceof Integer n && n < 0) {
        throw new HeadwiseException(
            name
                + " must be >= 0 (0 = "
                + (name.equals(OptionNames.THREADS) ? "all cores" : "the default")
                + "), got "
                + n);
      }
    }
  }
}
