package io.headwise.profilers.calibration;

import io.headwise.profilers.CalibrationSample;
import io.headwise.schemas.HeadwiseException;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * RazorAttention-style probes: an optional leading token, then R repeats of a random segment of n
 * ids drawn uniformly from [idLow, idHigh). The period n, the repeat count R and the start of the
 * first repeat are recorded so that echo and induction scores can be measured on repeats 2..R.
 * Deterministic from the seed.
 */
public record RepeatProbes(
    int count, int period, int repeats, int idLow, int idHigh, int leadingToken, long seed) {
  public RepeatProbes {
    if (count < 1 || period < 2 || repeats < 2) {
      throw new HeadwiseException(
          "repeat probes need count >= 1, period >= 2 and repeats >= 2 (got "
              + count
              + ", "
              + period
              + ", "
              + repeats
              + ")");
    }
    if (idLow < 0 || idHigh <= idLow + 1) {
      throw new HeadwiseException(
          "repeat probes need an id range lo:hi with 0 <= lo < hi - 1, got "
              + idLow
              + ":"
              + idHigh);
    }
  }

  /** Generates the probes; sample ids are {@code <prefix>repeat-<i>}. */
  public List<CalibrationSample> generate(String prefix) {
    List<CalibrationSample> out = new ArrayList<>(count);
    SplittableRandom root = new SplittableRandom(seed);
    int lead = leadingToken >= 0 ? 1 : 0;
    for (int i = 0; i < count; i++) {
      SplittableRandom rnd = root.split();
      int[] seg = new int[period];
      for (int k = 0; k < period; k++) {
        seg[k] = rnd.nextInt(idLow, idHigh);
      }
      int[] ids = new int[lead + period * repeats];
      if (lead == 1) {
        ids[0] = leadingToken;
      }
      for (int r = 0; r < repeats; r++) {
        System.arraycopy(seg, 0, ids, lead + r * period, period);
      }
      out.add(
          new CalibrationSample(
              prefix + "repeat-" + i,
              ids,
              null,
              CalibrationSample.SOURCE_REPEAT,
              lead,
              period,
              repeats,
              -1,
              -1,
              -1,
              -1));
    }
    return out;
  }
}
