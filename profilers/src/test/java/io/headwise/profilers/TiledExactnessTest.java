package io.headwise.profilers;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.headwise.graph.OnnxModel;
import io.headwise.graph.TestModels;
import io.headwise.graph.synth.SynthDtype;
import io.headwise.graph.synth.SynthShape;
import io.headwise.graph.synth.SynthSpec;
import io.headwise.graph.synth.SyntheticLlama;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The query-tiled core gives every statistic of the untiled route within 1e-4 (both are checked
 * against the same direct computation from the model's exposed probabilities), with every layer
 * tiled, at block sizes that divide the padded length and sizes that do not. A float16 core is
 * tiled too (computed in float32) and held to 1e-3 against its own float16 probabilities.
 */
class TiledExactnessTest {
  @TempDir static Path dir;

  @ParameterizedTest
  @ValueSource(ints = {64, 48})
  void stories260kCalibrationIds(int queryBlock) {
    OnnxModel model = OnnxModel.load(TestModels.stories260k());
    int checked =
        StatsExactnessTest.check(
            model,
            StatsConfig.defaults(),
            List.of(StatsExactnessTest.stories260kCalibration()),
            queryBlock);
    assertTrue(checked > 5 * 8 * 20, "checked " + checked);
  }

  @ParameterizedTest
  @ValueSource(ints = {128, 96})
  void retrievalLmCalibrationIds(int queryBlock) {
    OnnxModel model = OnnxModel.load(TestModels.retrievalLm());
    int[][] ids = IdArrays.read(TestModels.retrievalLmCalibration(), "calib");
    List<CalibrationSample> samples = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      samples.add(
          CalibrationSample.of(
              "r" + i, Arrays.copyOf(ids[i], 512 - 100 * i), null, CalibrationSample.SOURCE_IDS));
    }
    int checked =
        StatsExactnessTest.check(
            model,
            StatsConfig.defaults(),
            List.of(Batch.pad(ProbeKind.PLAIN, samples, 512)),
            queryBlock);
    assertTrue(checked > 4 * 8 * 20, "checked " + checked);
  }

  @ParameterizedTest
  @ValueSource(ints = {16, 7})
  void stories260kRepeatAndPasskeyProbesWithPadding(int queryBlock) {
    OnnxModel model = OnnxModel.load(TestModels.stories260k());
    StatsExactnessTest.check(
        model, StatsConfig.defaults(), StatsExactnessTest.probeBatches(), queryBlock);
  }

  @ParameterizedTest
  @ValueSource(ints = {8, 13, 1})
  void miniLmPaddedBatch(int queryBlock) {
    StatsExactnessTest.check(
        OnnxModel.load("default"),
        StatsExactnessTest.MINI_LM_CONFIG,
        List.of(StatsExactnessTest.miniLmBatch()),
        queryBlock);
  }

  /**
   * The tiny synthetic Llama ({@code headwise synth --shape tiny}: GQA, RoPE, an additive
   * causal-and-padding mask like a torch.onnx export) in float32, float16 and bfloat16 (run through
   * Bfloat16Emulation, as every session here is), three right-padded rows of up to 64 tokens.
   */
  @ParameterizedTest
  @CsvSource({
    "FLOAT32, 16",
    "FLOAT32, 12",
    "FLOAT16, 16",
    "FLOAT16, 12",
    "BFLOAT16, 16",
    "BFLOAT16, 12"
  })
  void tinySyntheticLlama(SynthDtype dtype, int queryBlock) {
    SynthSpec spec = new SynthSpec(SynthShape.TINY, 2, 97, dtype, false, 5);
    Path file = dir.resolve(dtype + "-" + queryBlock + ".onnx");
    OnnxModel model = OnnxModel.load(SyntheticLlama.write(spec, file).model());
    Random rnd = new Random(3);
    List<CalibrationSample> samples = new ArrayList<>();
    for (int length : new int[] {64, 50, 29}) {
      samples.add(
          CalibrationSample.of(
              "t" + length, rnd.ints(length, 1, 97).toArray(), null, CalibrationSample.SOURCE_IDS));
    }
    int checked =
        StatsExactnessTest.check(
            model,
            StatsConfig.defaults(),
            List.of(Batch.pad(ProbeKind.PLAIN, samples, 64)),
            queryBlock);
    assertTrue(checked > 100, "checked " + checked);
  }
}
