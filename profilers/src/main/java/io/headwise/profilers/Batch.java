package io.headwise.profilers;

import io.headwise.schemas.HeadwiseException;
import java.util.List;

/**
 * Samples of one probe kind right-padded to one length: ids and mask [B][T] and the per-row probe
 * metadata the instrumented graph takes as extra inputs.
 */
public record Batch(
    ProbeKind kind, List<CalibrationSample> samples, long[][] ids, long[][] mask, long[][] probe) {

  /**
   * Pads {@code samples} (all of {@code kind}) on the right with id 0 and mask 0 to {@code length}
   * tokens.
   */
  public static Batch pad(ProbeKind kind, List<CalibrationSample> samples, int length) {
    int b = samples.size();
    long[][] ids = new long[b][length];
    long[][] mask = new long[b][length];
    long[][] probe = new long[7][b];
    for (int i = 0; i < b; i++) {
      CalibrationSample s = samples.get(i);
      if (s.kind() != kind) {
        throw new IllegalArgumentException(
            "sample " + s.sampleId() + " is " + s.kind() + ", not " + kind);
      }
      if (s.length() > length) {
        throw new HeadwiseException(
            "sample '"
                + s.sampleId()
                + "' has "
                + s.length()
                + " tokens, more than the bucket length "
                + length);
      }
      for (int t = 0; t < s.length(); t++) {
        ids[i][t] = s.inputIds()[t];
        mask[i][t] = s.attentionMask() == null ? 1 : (s.attentionMask()[t] != 0 ? 1 : 0);
      }
      probe[0][i] = s.repeatStart();
      probe[1][i] = s.repeatPeriod();
      probe[2][i] = s.repeatCount();
      probe[3][i] = s.needleStart();
      probe[4][i] = s.needleEnd();
      probe[5][i] = s.answerStart();
      probe[6][i] = s.answerEnd();
    }
    return new Batch(kind, List.copyOf(samples), ids, mask, probe);
  }

  public int size() {
    return ids.length;
  }

  public int length() {
    return ids[0].length;
  }
}
