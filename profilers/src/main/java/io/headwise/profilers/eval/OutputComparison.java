package io.headwise.profilers.eval;

import io.headwise.profilers.Batch;
import io.headwise.profilers.ProbeKind;
import java.io.Serializable;

/**
 * Mergeable sums comparing a candidate model's outputs with the reference (dense) model's on the
 * same batches. Decoders ([B, T, vocab] logits): KL(reference ‖ candidate) of the next-token
 * distribution and top-1 agreement at every valid position; NLL of the actual next token for both;
 * next-token accuracy of both on the positions of repeat probes that only retrieval can predict
 * (targets in repeats 2..R) and on the needle tokens of passkey answers (targets after the first
 * answer token). Encoders ([B, T, hidden]): cosine similarity of the final hidden states at every
 * valid token.
 */
public final class OutputComparison implements Serializable {
  private static final long serialVersionUID = 1L;

  private long samples;
  private long positions;
  private double klSum;
  private long top1Agree;
  private long nllPositions;
  private double nllReference;
  private double nllCandidate;
  private long repeatPositions;
  private long repeatCorrectReference;
  private long repeatCorrectCandidate;
  private long passkeyPositions;
  private long passkeyCorrectReference;
  private long passkeyCorrectCandidate;
  private long cosineTokens;
  private double cosineSum;
  private boolean encoder;

  /**
   * Adds one batch: {@code reference} and {@code candidate} are the models' first outputs, [B, T,
   * V] in row-major order; {@code logits} says whether they are next-token logits (decoders) or
   * hidden states (encoders).
   */
  public void add(Batch batch, float[] reference, float[] candidate, int v, boolean logits) {
    int b = batch.size();
    int t = batch.length();
    samples += b;
    if (!logits) {
      encoder = true;
    }
    double[] pr = new double[v];
    double[] pc = new double[v];
    for (int row = 0; row < b; row++) {
      long[] mask = batch.mask()[row];
      long[] ids = batch.ids()[row];
      int[] pos = new int[t];
      int c = 0;
      for (int i = 0; i < t; i++) {
        pos[i] = mask[i] != 0 ? c++ : -1;
      }
      for (int i = 0; i < t; i++) {
        if (mask[i] == 0) {
          continue;
        }
        int base = (row * t + i) * v;
        if (!logits) {
          double dot = 0;
          double nr = 0;
          double nc = 0;
          for (int k = 0; k < v; k++) {
            dot += (double) reference[base + k] * candidate[base + k];
            nr += (double) reference[base + k] * reference[base + k];
            nc += (double) candidate[base + k] * candidate[base + k];
          }
          cosineSum += nr == 0 || nc == 0 ? (nr == nc ? 1 : 0) : dot / Math.sqrt(nr * nc);
          cosineTokens++;
          continue;
        }
        logSoftmax(reference, base, v, pr);
        logSoftmax(candidate, base, v, pc);
        double kl = 0;
        int ar = 0;
        int ac = 0;
        for (int k = 0; k < v; k++) {
          double p = Math.exp(pr[k]);
          if (p > 0) {
            kl += p * (pr[k] - pc[k]);
          }
          if (pr[k] > pr[ar]) {
            ar = k;
          }
          if (pc[k] > pc[ac]) {
            ac = k;
          }
        }
        positions++;
        klSum += Math.max(0, kl);
        top1Agree += ar == ac ? 1 : 0;
        int next = nextValid(mask, i);
        if (next < 0) {
          continue;
        }
        int target = (int) ids[next];
        nllPositions++;
        nllReference -= pr[target];
        nllCandidate -= pc[target];
        int tp = pos[next];
        if (batch.kind() == ProbeKind.REPEAT) {
          long start = batch.probe()[0][row];
          long period = batch.probe()[1][row];
          long end = start + batch.probe()[2][row] * period;
          if (tp >= start + period && tp < end) {
            repeatPositions++;
            repeatCorrectReference += ar == target ? 1 : 0;
            repeatCorrectCandidate += ac == target ? 1 : 0;
          }
        } else if (batch.kind() == ProbeKind.PASSKEY) {
          if (tp > batch.probe()[5][row] && tp < batch.probe()[6][row]) {
            passkeyPositions++;
            passkeyCorrectReference += ar == target ? 1 : 0;
            passkeyCorrectCandidate += ac == target ? 1 : 0;
          }
        }
      }
    }
  }

  private static int nextValid(long[] mask, int i) {
    for (int j = i + 1; j < mask.length; j++) {
      if (mask[j] != 0) {
        return j;
      }
    }
    return -1;
  }

  /**
   * Writes log-softmax of x[base..base+v) into out (max-shifted, in double); returns the log
   * normaliser.
   */
  public static double logSoftmax(float[] x, int base, int v, double[] out) {
    double max = Double.NEGATIVE_INFINITY;
    for (int k = 0; k < v; k++) {
      max = Math.max(max, x[base + k]);
    }
    double z = 0;
    for (int k = 0; k < v; k++) {
      z += Math.exp(x[base + k] - max);
    }
    double lz = max + Math.log(z);
    for (int k = 0; k < v; k++) {
      out[k] = x[base + k] - lz;
    }
    return lz;
  }

  /** Adds another comparison's sums into this one. */
  public OutputComparison merge(OutputComparison o) {
    samples += o.samples;
    positions += o.positions;
    klSum += o.klSum;
    top1Agree += o.top1Agree;
    nllPositions += o.nllPositions;
    nllReference += o.nllReference;
    nllCandidate += o.nllCandidate;
    repeatPositions += o.repeatPositions;
    repeatCorrectReference += o.repeatCorrectReference;
    repeatCorrectCandidate += o.repeatCorrectCandidate;
    passkeyPositions += o.passkeyPositions;
    passkeyCorrectReference += o.passkeyCorrectReference;
    passkeyCorrectCandidate += o.passkeyCorrectCandidate;
    cosineTokens += o.cosineTokens;
    cosineSum += o.cosineSum;
    encoder |= o.encoder;
    return this;
  }

  /** The final metrics. */
  public Metrics metrics() {
    boolean dec = !encoder;
    return new Metrics(
        samples,
        dec ? positions : cosineTokens,
        dec && positions > 0 ? klSum / positions : null,
        dec && positions > 0 ? (double) top1Agree / positions : null,
        dec && nllPositions > 0 ? nllReference / nllPositions : null,
        dec && nllPositions > 0 ? nllCandidate / nllPositions : null,
        repeatPositions > 0 ? (double) repeatCorrectCandidate / repeatPositions : null,
        repeatPositions > 0 ? (double) repeatCorrectReference / repeatPositions : null,
        passkeyPositions > 0 ? (double) passkeyCorrectCandidate / passkeyPositions : null,
        passkeyPositions > 0 ? (double) passkeyCorrectReference / passkeyPositions : null,
        cosineTokens > 0 ? cosineSum / cosineTokens : null);
  }

  /** Final metrics; decoder-only and encoder-only fields are null where they do not apply. */
  public record Metrics(
      long samples,
      long positions,
      Double klMean,
      Double top1Agreement,
      Double nllReference,
      Double nllCandidate,
      Double repeatAccuracy,
      Double referenceRepeatAccuracy,
      Double passkeyAccuracy,
      Double referencePasskeyAccuracy,
      Double cosineMean)
      implements Serializable {

    /** Mean NLL(candidate) − mean NLL(reference), or null for encoders. */
    public Double nllDelta() {
      return nllReference == null ? null : nllCandidate - nllReference;
    }
  }
}
