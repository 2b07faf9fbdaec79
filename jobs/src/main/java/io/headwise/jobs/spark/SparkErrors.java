package io.headwise.jobs.spark;

import io.headwise.schemas.HeadwiseException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Turns a Spark job failure caused by bad input on an executor back into the user-facing error. */
public final class SparkErrors {
  private static final Pattern REMOTE =
      Pattern.compile("io\\.headwise\\.schemas\\.HeadwiseException: ([^\\n]+)");

  private SparkErrors() {}

  /** The {@link HeadwiseException} behind {@code e} when there is one, else {@code e}. */
  public static RuntimeException unwrap(RuntimeException e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof HeadwiseException he) {
        return he;
      }
      Matcher m = REMOTE.matcher(String.valueOf(t.getMessage()));
      if (m.find()) {
        return new HeadwiseException(m.group(1), e);
      }
    }
    return e;
  }
}
