package io.headwise.jobs.warehouse;

import java.security.SecureRandom;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.HexFormat;

/**
 * Attempt ids: the UTC start time of a step attempt (so ids sort by start time and {@code headwise
 * maintain} can tell an old abandoned attempt from one still running) and a random suffix (so
 * parallel attempts never share an id).
 */
public final class Attempts {
  private static final DateTimeFormatter TIME =
      DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmss.SSS'Z'").withZone(ZoneOffset.UTC);
  private static final SecureRandom RANDOM = new SecureRandom();

  private Attempts() {}

  /** A new attempt id started now. */
  public static String next() {
    byte[] b = new byte[6];
    RANDOM.nextBytes(b);
    return prefix(Instant.now()) + "-" + HexFormat.of().formatHex(b);
  }

  /**
   * The id prefix of attempts started at {@code t}: every attempt started before {@code t} sorts
   * below it.
   */
  public static String prefix(Instant t) {
    return TIME.format(t);
  }
}
