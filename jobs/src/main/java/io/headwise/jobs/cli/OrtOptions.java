package io.headwise.jobs.cli;

import io.headwise.profilers.ExecutionProvider;
import picocli.CommandLine.Option;

/**
 * ONNX Runtime settings of the steps that run a model per sample ({@code stats}, {@code profile},
 * {@code evaluate}, {@code quantize}): execution provider and intra-op threads.
 */
public final class OrtOptions {
  @Option(
      names = OptionNames.EP,
      defaultValue = "cpu",
      paramLabel = "cpu|cuda[:N]|auto",
      description = "ONNX Runtime execution provider (default: ${DEFAULT-VALUE}).")
  public String ep;

  @Option(
      names = OptionNames.THREADS,
      defaultValue = "0",
      description = "ONNX Runtime intra-op threads per session (0 = all cores).")
  public int threads;

  /** The execution provider {@code --ep} names. */
  public ExecutionProvider executionProvider() {
    return ExecutionProvider.parse(ep);
  }
}
