package io.headwise.jobs.quantize;

import io.headwise.export.quant.rotation.ResidualStreamRotation;
import io.headwise.export.quant.rotation.RotatedModel;
import io.headwise.export.quant.rotation.RotationCheck;
import io.headwise.export.quant.rotation.RotationRefusedException;
import io.headwise.graph.AttentionMap;
import io.headwise.graph.ModelInputs;
import io.headwise.graph.ModelLimits;
import io.headwise.graph.OnnxModel;
import io.headwise.jobs.quantize.QuantizeModelFiles.ExternalData;
import io.headwise.jobs.spark.CalibrationRows;
import io.headwise.profilers.CalibrationSample;
import io.headwise.profilers.SampleChecks;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;

/**
 * The outcome of {@code --rotate}: either the rotated model quantization starts from (with how far
 * its outputs moved on calibration samples), or the reason the model's structure refused the
 * rotation, in which case the original is quantized. It exists apart from the solve so that a
 * refusal is a value the rows and the summary report, not an exception that ends the run.
 *
 * @param working the model to quantize: the rotated one written to the work directory, or the
 *     original
 * @param rotated the rotation, null when none was applied
 * @param difference the rotated model's output difference from the original, null when none was
 *     applied
 * @param refused why the rotation was refused, null unless it was
 */
record QuantizeRotation(
    OnnxModel working, RotatedModel rotated, RotationCheck.Difference difference, String refused) {

  /** No {@code --rotate}: the original is quantized as it is. */
  static QuantizeRotation none(OnnxModel original) {
    return new QuantizeRotation(original, null, null, null);
  }

  /** Whether a rotation was applied. */
  boolean applied() {
    return rotated != null;
  }

  /**
   * Rotates {@code original} ({@link ResidualStreamRotation}) and checks on the first four
   * calibration samples that it reproduces the original's outputs ({@link RotationCheck}); a
   * structure that does not allow it, or outputs that moved beyond the tolerance, give a refusal.
   */
  static QuantizeRotation rotate(
      OnnxModel original,
      AttentionMap map,
      Dataset<Row> samples,
      long seed,
      boolean truncate,
      QuantizeWorkDir workDir) {
    try {
      RotatedModel rotated =
          ResidualStreamRotation.rotate(ExternalInitializers.embedded(original), map, seed);
      List<CalibrationSample> probe = new ArrayList<>();
      for (Row r : samples.limit(4).collectAsList()) {
        probe.add(CalibrationRows.fromRow(r));
      }
      probe =
          SampleChecks.validate(
              probe, ModelLimits.of(original.graph(), ModelInputs.of(original.graph())), truncate);
      int t = probe.stream().mapToInt(CalibrationSample::length).max().orElse(1);
      long[][] ids = new long[probe.size()][t];
      long[][] mask = new long[probe.size()][t];
      for (int i = 0; i < probe.size(); i++) {
        CalibrationSample s = probe.get(i);
        for (int j = 0; j < s.length(); j++) {
          ids[i][j] = s.inputIds()[j];
          mask[i][j] = s.attentionMask() == null || s.attentionMask()[j] != 0 ? 1 : 0;
        }
      }
      RotationCheck.Difference difference =
          RotationCheck.compare(original, rotated.proto(), ids, mask);
      if (!difference.withinTolerance()) {
        throw new RotationRefusedException(
            "the rotated model's outputs differ from the original's by "
                + difference.maxAbs()
                + " ("
                + difference.relative()
                + " of their scale, above "
                + RotationCheck.TOLERANCE
                + ")");
      }
      Path p =
          QuantizeModelFiles.writeWorking(
              rotated.proto(), workDir.path(), "rotated.onnx", ExternalData.AUTO);
      OnnxModel working = OnnxModel.load(p);
      System.err.printf(
          "headwise quantize: rotated (%s, %d norms folded, %d online transforms); max |output"
              + " difference| %.3g of %.3g%n",
          rotated.construction(),
          rotated.foldedNorms().size(),
          rotated.onlineTransforms().size(),
          difference.maxAbs(),
          difference.referenceMaxAbs());
      return new QuantizeRotation(working, rotated, difference, null);
    } catch (RotationRefusedException e) {
      System.err.println(
          "headwise quantize: rotation refused: "
              + e.getMessage()
              + "; quantizing without rotation");
      return new QuantizeRotation(original, null, null, e.getMessage());
    }
  }
}
