package io.headwise.jobs.cli;

import io.headwise.graph.synth.SynthDtype;
import io.headwise.graph.synth.SynthShape;
import io.headwise.graph.synth.SynthSpec;
import io.headwise.graph.synth.SyntheticLlama;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code headwise synth}: writes a Llama-architecture decoder with random weights and real shapes,
 * for scale work.
 */
@Command(
    name = "synth",
    mixinStandardHelpOptions = true,
    description =
        "Write a Llama-architecture ONNX decoder with random weights (TorchScript export layout, weights"
            + " streamed to OUT.data as external data): llama3-8b = hidden 4096, 32/8 heads, head dim 128, SwiGLU 14336;"
            + " tiny = hidden 64, 4/2 heads, head dim 16, SwiGLU 128.")
public final class SynthCommand implements Callable<Integer> {
  @Mixin ConfigOption config;

  @Option(
      names = OptionNames.SHAPE,
      paramLabel = "NAME",
      defaultValue = "tiny",
      description = "llama3-8b or tiny (default: ${DEFAULT-VALUE}).")
  String shape;

  @Option(
      names = OptionNames.LAYERS,
      paramLabel = "N",
      required = true,
      description = "Decoder layers.")
  int layers;

  @Option(
      names = OptionNames.VOCAB,
      paramLabel = "V",
      required = true,
      description = "Vocabulary size.")
  int vocab;

  @Option(
      names = OptionNames.DTYPE,
      paramLabel = "TYPE",
      defaultValue = "float32",
      description =
          "float32, float16 or bfloat16 (bfloat16 runs here in float32: Bfloat16Emulation;"
              + " default: ${DEFAULT-VALUE}).")
  String dtype;

  @Option(
      names = OptionNames.WITH_PAST,
      description =
          "Optimum-style KV-cache inputs and outputs (position_ids,"
              + " past_key_values.L.key/value, present.L.key/value).")
  boolean withPast;

  @Option(
      names = OptionNames.SEED,
      paramLabel = "S",
      defaultValue = "0",
      description = "Random seed of the weights (default: ${DEFAULT-VALUE}).")
  long seed;

  @Option(
      names = OptionNames.OUT,
      paramLabel = "M.onnx",
      required = true,
      description = "Model file to write; the weights go to M.onnx.data next to it.")
  Path out;

  @Override
  public Integer call() {
    SynthSpec spec =
        new SynthSpec(SynthShape.of(shape), layers, vocab, SynthDtype.of(dtype), withPast, seed);
    SyntheticLlama.Written w = SyntheticLlama.write(spec, out);
    System.out.printf(
        Locale.ROOT,
        "wrote %s (%s, %d layers, vocab %d, %s%s): %,d parameters, %.2f GiB in %s%n",
        w.model(),
        spec.shape().name(),
        layers,
        vocab,
        spec.dtype().name().toLowerCase(Locale.ROOT),
        withPast ? ", with past" : "",
        w.parameters(),
        w.dataBytes() / (double) (1L << 30),
        w.data().getFileName());
    return 0;
  }
}
