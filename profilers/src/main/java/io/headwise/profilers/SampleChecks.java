package io.headwise.profilers;

import io.headwise.graph.ModelLimits;
import io.headwise.schemas.HeadwiseException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** Checks calibration samples against a model's limits before anything runs. */
public final class SampleChecks {
  private SampleChecks() {}

  /**
   * Returns the samples, cut to the model's maximum length when {@code truncate} is set; otherwise
   * a sample that is too long, an id outside the vocabulary, or an empty list is an error naming
   * the sample.
   */
  public static List<CalibrationSample> validate(
      List<CalibrationSample> samples, ModelLimits limits, boolean truncate) {
    if (samples.isEmpty()) {
      throw new HeadwiseException(
          "no calibration samples: give at least one sequence of token ids");
    }
    List<CalibrationSample> out = new ArrayList<>(samples.size());
    for (CalibrationSample s : samples) {
      CalibrationSample c = s;
      if (limits.maxPositions() > 0 && s.length() > limits.maxPositions()) {
        if (!truncate) {
          throw new HeadwiseException(
              "sample '"
                  + s.sampleId()
                  + "' has "
                  + s.length()
                  + " tokens but the model accepts at most "
                  + limits.maxPositions()
                  + "; shorten it or pass --truncate");
        }
        int n = (int) limits.maxPositions();
        c =
            new CalibrationSample(
                s.sampleId(),
                Arrays.copyOf(s.inputIds(), n),
                s.attentionMask() == null ? null : Arrays.copyOf(s.attentionMask(), n),
                s.source(),
                s.repeatStart(),
                s.repeatPeriod(),
                s.repeatCount(),
                s.needleStart(),
                s.needleEnd(),
                s.answerStart(),
                s.answerEnd());
      }
      if (limits.vocabSize() > 0) {
        int[] ids = c.inputIds();
        for (int j = 0; j < ids.length; j++) {
          if (ids[j] < 0 || ids[j] >= limits.vocabSize()) {
            throw new HeadwiseException(
                "sample '"
                    + s.sampleId()
                    + "' position "
                    + j
                    + ": token id "
                    + ids[j]
                    + " is outside the model's vocabulary [0, "
                    + limits.vocabSize()
                    + ")");
          }
        }
      }
      if (c.validLength() == 0) {
        throw new HeadwiseException(
            "sample '" + s.sampleId() + "' has no valid token (its attention_mask is all 0)");
      }
      out.add(c);
    }
    return out;
  }
}
