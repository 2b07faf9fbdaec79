package io.headwise.profilers;

import io.headwise.schemas.HeadwiseException;
import java.io.Serializable;

/**
 * One calibration sequence: token ids, an optional attention mask (1 = valid), its source ({@code
 * text}, {@code repeat}, {@code passkey}, {@code self}, {@code ids}), and probe metadata in
 * valid-token positions: for repeat probes the start of the first repeat, the period and the repeat
 * count; for passkey probes the needle span and the answer-query span (end exclusive). Unused probe
 * fields are -1.
 */
public record CalibrationSample(
    String sampleId,
    int[] inputIds,
    int[] attentionMask,
    String source,
    int repeatStart,
    int repeatPeriod,
    int repeatCount,
    int needleStart,
    int needleEnd,
    int answerStart,
    int answerEnd)
    implements Serializable {

  public static final String SOURCE_TEXT = "text";
  public static final String SOURCE_REPEAT = "repeat";
  public static final String SOURCE_PASSKEY = "passkey";
  public static final String SOURCE_SELF = "self";
  public static final String SOURCE_IDS = "ids";

  public CalibrationSample {
    if (inputIds == null || inputIds.length == 0) {
      throw new HeadwiseException("calibration sample '" + sampleId + "' has no input_ids");
    }
    if (attentionMask != null && attentionMask.length != inputIds.length) {
      throw new HeadwiseException(
          "calibration sample '"
              + sampleId
              + "': attention_mask has "
              + attentionMask.length
              + " entries but input_ids has "
              + inputIds.length
              + "; they must have the same length");
    }
  }

  /** A plain sample of token ids. */
  public static CalibrationSample of(
      String sampleId, int[] inputIds, int[] attentionMask, String source) {
    return new CalibrationSample(
        sampleId, inputIds, attentionMask, source, -1, -1, -1, -1, -1, -1, -1);
  }

  /** The probe kind this sample feeds. */
  public ProbeKind kind() {
    if (repeatPeriod > 0) {
      return ProbeKind.REPEAT;
    }
    if (needleEnd > needleStart && answerEnd > answerStart && needleStart >= 0) {
      return ProbeKind.PASSKEY;
    }
    return ProbeKind.PLAIN;
  }

  public int length() {
    return inputIds.length;
  }

  /** Number of valid tokens. */
  public int validLength() {
    if (attentionMask == null) {
      return inputIds.length;
    }
    int n = 0;
    for (int m : attentionMask) {
      n += m != 0 ? 1 : 0;
    }
    return n;
  }
}
