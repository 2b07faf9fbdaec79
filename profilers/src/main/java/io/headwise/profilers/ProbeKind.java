package io.headwise.profilers;

/**
 * What a batch of calibration samples is, which decides the probe-only statistics its instrumented
 * graph computes: {@code PLAIN} text or generated samples, {@code REPEAT} repeated-random-token
 * probes (echo and induction scores), {@code PASSKEY} needle-in-a-haystack probes (needle mass).
 */
public enum ProbeKind {
  PLAIN,
  REPEAT,
  PASSKEY
}
