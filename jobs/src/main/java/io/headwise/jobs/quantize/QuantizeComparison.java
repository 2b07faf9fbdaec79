package io.headwise.jobs.quantize;

import io.headwise.profilers.Batch;
import io.headwise.profilers.eval.OutputComparison;
import java.io.Serializable;

/**
 * Mergeable sums comparing the quantized model with the original on the same held-out batches: the
 * shared {@link OutputComparison} (decoders: NLL of both, KL, top-1; encoders: cosine of hidden
 * states per valid token) plus, for encoders, the cosine similarity of mean-pooled embeddings (mean
 * over valid tokens) per sample, which is what sentence-embedding models serve.
 */
public final class QuantizeComparison implements Serializable {
  private static final long serialVersionUID = 1L;

  private final OutputComparison outputs = new OutputComparison();
  private long pooledSamples;
  private double pooledCosineSum;

  /** Adds one batch of both models' first outputs ({@code [B, T, v]} row-major). */
  public void add(Batch batch, float[] original, float[] quantized, int v, boolean logits) {
    outputs.add(batch, original, quantized, v, logits);
    if (logits) {
      return;
    }
    int t = batch.length();
    for (int row = 0; row < batch.size(); row++) {
      double[] po = new double[v];
      double[] pq = new double[v];
      for (int i = 0; i < t; i++) {
        if (batch.mask()[row][i] == 0) {
          continue;
        }
        int base = (row * t + i) * v;
        for (int j = 0; j < v; j++) {
          po[j] += original[base + j];
          pq[j] += quantized[base + j];
        }
      }
      double dot = 0;
      double no = 0;
      double nq = 0;
      for (int j = 0; j < v; j++) {
        dot += po[j] * pq[j];
        no += po[j] * po[j];
        nq += pq[j] * pq[j];
      }
      pooledCosineSum += no == 0 || nq == 0 ? (no == nq ? 1 : 0) : dot / Math.sqrt(no * nq);
      pooledSamples++;
    }
  }

  /** Adds another partition's sums. */
  public QuantizeComparison merge(QuantizeComparison o) {
    outputs.merge(o.outputs);
    pooledSamples += o.pooledSamples;
    pooledCosineSum += o.pooledCosineSum;
    return this;
  }

  /** The shared metrics (NLL, KL, top-1, token cosine). */
  public OutputComparison.Metrics metrics() {
    return outputs.metrics();
  }

  /** Mean cosine of mean-pooled embeddings over samples, or null for decoders. */
  public Double pooledCosine() {
    return pooledSamples == 0 ? null : pooledCosineSum / pooledSamples;
  }
}
