package io.headwise.profilers.calibration;

import io.headwise.profilers.CalibrationSample;
import io.headwise.schemas.HeadwiseException;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * DuoAttention-style passkey probes: a haystack (given token sequences, cycled; or random ids when
 * none are given), a needle of random ids inserted at a chosen depth, and at the end an
 * answer-query span that repeats the needle: its first {@code cueLength} tokens are the prefix that
 * cues retrieval, the rest must be recalled from the needle. Spans are recorded in valid positions
 * (needle [start, end), answer [start, end)). Deterministic from the seed.
 */
public record PasskeyProbes(
    int count,
    int length,
    int needleLength,
    int cueLength,
    double depth,
    int idLow,
    int idHigh,
    int leadingToken,
    long seed) {
  public PasskeyProbes {
    if (count < 1 || needleLength < 2 || cueLength < 1 || cueLength >= needleLength) {
      throw new HeadwiseException(
          "passkey probes need count >= 1, needle length >= 2 and 1 <= cue < needle length");
    }
    if (depth < 0 || depth > 1) {
      throw new HeadwiseException("passkey needle depth must be in [0, 1], got " + depth);
    }
    if (length < 2 * needleLength + 4) {
      throw new HeadwiseException(
          "passkey probe length "
              + length
              + " is too short for a needle of "
              + needleLength
              + " tokens; use at least "
              + (2 * needleLength + 4));
    }
    if (idLow < 0 || idHigh <= idLow + 1) {
      throw new HeadwiseException("passkey probes need an id range lo:hi with 0 <= lo < hi - 1");
    }
  }

  /** Generates the probes over {@code haystacks} (may be empty: random ids). */
  public List<CalibrationSample> generate(String prefix, List<int[]> haystacks) {
    List<CalibrationSample> out = new ArrayList<>(count);
    SplittableRandom root = new SplittableRandom(seed);
    int lead = leadingToken >= 0 ? 1 : 0;
    int hayLength = length - lead - 2 * needleLength;
    for (int i = 0; i < count; i++) {
      SplittableRandom rnd = root.split();
      int[] hay = new int[hayLength];
      if (haystacks.isEmpty()) {
        for (int k = 0; k < hayLength; k++) {
          hay[k] = rnd.nextInt(idLow, idHigh);
        }
      } else {
        int[] src = haystacks.get(i % haystacks.size());
        for (int k = 0; k < hayLength; k++) {
          hay[k] = src[k % src.length];
        }
      }
      int[] needle = new int[needleLength];
      for (int k = 0; k < needleLength; k++) {
        needle[k] = rnd.nextInt(idLow, idHigh);
      }
      int at = (int) Math.round(depth * hayLength);
      int[] ids = new int[length];
      int p = 0;
      if (lead == 1) {
        ids[p++] = leadingToken;
      }
      System.arraycopy(hay, 0, ids, p, at);
      p += at;
      int needleStart = p;
      System.arraycopy(needle, 0, ids, p, needleLength);
      p += needleLength;
      System.arraycopy(hay, at, ids, p, hayLength - at);
      p += hayLength - at;
      int answerStart = p;
      System.arraycopy(needle, 0, ids, p, needleLength);
      out.add(
          new CalibrationSample(
              prefix + "passkey-" + i,
              ids,
              null,
              CalibrationSample.SOURCE_PASSKEY,
              -1,
              -1,
              -1,
              needleStart,
              needleStart + needleLength,
              answerStart,
              answerStart + needleLength));
    }
    return out;
  }
}
