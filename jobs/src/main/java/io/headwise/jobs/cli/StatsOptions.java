package io.headwise.jobs.cli;

import io.headwise.profilers.AttentionTiling;
import io.headwise.profilers.ExecutionProvider;
import io.headwise.profilers.StatsConfig;
import java.util.List;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** Statistic grids and ONNX Runtime settings shared by {@code stats} and {@code profile}. */
public final class StatsOptions {
  @Option(
      names = OptionNames.SINKS,
      split = ",",
      paramLabel = "S,...",
      defaultValue = "1,4",
      description = "Sink sizes for sink_mass_{s} (default: ${DEFAULT-VALUE}).")
  List<Integer> sinks;

  @Option(
      names = OptionNames.WINDOWS,
      split = ",",
      paramLabel = "W,...",
      description =
          "Local windows for local_mass/coverage/stream_deviation, capped at the length; exactly these when"
              + " given (default: 1,4,16,64,256,1024,4096 and every eighth of each bucket's length).")
  List<Integer> windows;

  @Option(
      names = OptionNames.STREAM_SINKS,
      split = ",",
      paramLabel = "S,...",
      defaultValue = "4",
      description =
          "Sink counts S of coverage_s{S}_w{w} and stream_deviation_s{S}_w{w} (default: ${DEFAULT-VALUE}).")
  List<Integer> streamSinks;

  @Option(
      names = OptionNames.HEAVY_HITTERS,
      split = ",",
      paramLabel = "P,...",
      defaultValue = "1,5,10,20",
      description = "Percentages p for heavy_hitter_share_{p} (default: ${DEFAULT-VALUE}).")
  List<Integer> heavyHitters;

  @Option(
      names = OptionNames.NO_STREAM_DEVIATION,
      description = "Skip stream_deviation (one extra P·V product per window and layer).")
  boolean noStreamDeviation;

  @Mixin OrtOptions ort;

  @Option(
      names = OptionNames.BATCH_SIZE,
      defaultValue = "0",
      description = "Sequences per ONNX Runtime run; 0 (default) = 1 on the CPU EP, 8 with CUDA.")
  int batchSize;

  @Option(
      names = OptionNames.QUERY_BLOCK,
      paramLabel = "ROWS",
      description =
          "Query rows per block of the tiled attention core (default: from --attention-memory-mb);"
              + " a block of at least the sequence length runs the untiled graph.")
  Integer queryBlock;

  @Option(
      names = OptionNames.ATTENTION_MEMORY_MB,
      paramLabel = "MIB",
      description =
          "Memory budget of one query block of the tiled attention core ([B, H, rows, T] float"
              + " tensors; default: an eighth of the JVM's maximum heap); blocks are capped at max(64, T/8) rows.")
  Integer attentionMemoryMb;

  /** How attention is query-tiled ({@code --query-block}, {@code --attention-memory-mb}). */
  public AttentionTiling tiling() {
    return new AttentionTiling(queryBlock, attentionMemoryMb);
  }

  /** The execution provider {@code --ep} names. */
  public ExecutionProvider executionProvider() {
    return ort.executionProvider();
  }

  /** ONNX Runtime intra-op threads per session ({@code --threads}, 0 = all cores). */
  public int threads() {
    return ort.threads;
  }

  /**
   * Sequences per ONNX Runtime run: {@code --batch-size}, or the execution provider's default for
   * 0.
   */
  public int batchSize() {
    return executionProvider().batchSize(batchSize, OptionNames.BATCH_SIZE);
  }

  /** The statistic config these options describe. */
  public StatsConfig toConfig() {
    return new StatsConfig(
        sinks,
        windows == null ? StatsConfig.DEFAULT_WINDOWS : windows,
        streamSinks,
        heavyHitters,
        !noStreamDeviation,
        true,
        windows == null);
  }
}
