package io.headwise.profilers;

/**
 * Length buckets: a sample of n tokens is padded to the smallest power of two ≥ max(n, 16).
 * Statistics are kept per bucket, since MoA plans are rules over length.
 */
public final class LengthBuckets {
  public static final int MIN_BUCKET = 16;

  private LengthBuckets() {}

  /** The bucket (padded length) of a sample with {@code length} tokens. */
  public static int bucketOf(int length) {
    int b = MIN_BUCKET;
    while (b < length) {
      b <<= 1;
    }
    return b;
  }
}
