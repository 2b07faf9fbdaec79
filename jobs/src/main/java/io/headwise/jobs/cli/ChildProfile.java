package io.headwise.jobs.cli;

import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The command line of {@code headwise profile} in a JVM of its own under {@code local[cores]}, one
 * ONNX Runtime thread and one partition per core: how {@code bench profile} and the parallelism
 * test compare masters, each as a user would run it, with this JVM's module openings and logging.
 */
public final class ChildProfile {
  private ChildProfile() {}

  public static List<String> command(
      Path model, Path calibration, Path warehouse, String runId, int cores, String maxHeap) {
    List<String> cmd =
        new ArrayList<>(
            List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx" + maxHeap));
    cmd.addAll(
        ManagementFactory.getRuntimeMXBean().getInputArguments().stream()
            .filter(
                a ->
                    a.startsWith("--add-opens")
                        || a.startsWith("-Dlog4j2")
                        || a.startsWith("-Djdk.reflect")
                        || a.startsWith("-Dio.netty"))
            .toList());
    cmd.addAll(
        List.of(
            "-cp",
            System.getProperty("java.class.path"),
            HeadwiseCommand.class.getName(),
            "profile",
            "--model",
            model.toString(),
            "--calibration",
            calibration.toString(),
            "--warehouse",
            warehouse.toString(),
            "--run-id",
            runId,
            "--master",
            "local[" + cores + "]",
            OptionNames.PARTITIONS,
            String.valueOf(cores),
            "--threads",
            "1"));
    return cmd;
  }
}
