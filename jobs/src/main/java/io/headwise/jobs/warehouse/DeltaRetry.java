package io.headwise.jobs.warehouse;

import java.io.FileNotFoundException;
import java.util.ConcurrentModificationException;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Retries a Delta operation that optimistic concurrency refused: Delta's conflict exceptions
 * ({@code ConcurrentAppendException}, {@code ProtocolChangedException} when two writers create a
 * table, {@code MetadataChangedException}, ...) all extend {@link ConcurrentModificationException};
 * a reader racing a table's creation sees a missing {@code _delta_log} file. Other failures are not
 * retried: they would fail again.
 */
public final class DeltaRetry {
  /** Attempts before giving up (the backoff totals about 25 s). */
  static final int MAX_TRIES = 10;

  private static final long FIRST_BACKOFF_MILLIS = 100;
  private static final long MAX_BACKOFF_MILLIS = 5_000;

  /** A Delta operation (Spark's writers may throw checked exceptions). */
  @FunctionalInterface
  public interface Operation<T> {
    T run() throws Exception;
  }

  /**
   * Raised when a table stays contended after {@link #MAX_TRIES} tries; the message names the
   * table.
   */
  public static final class ConflictException extends RuntimeException {
    ConflictException(String message, Throwable cause) {
      super(message, cause);
    }
  }

  private DeltaRetry() {}

  /** Runs {@code op}, retrying concurrency conflicts with jittered exponential backoff. */
  public static <T> T run(String table, String what, Operation<T> op) throws Exception {
    long backoff = FIRST_BACKOFF_MILLIS;
    for (int attempt = 1; ; attempt++) {
      try {
        return op.run();
      } catch (Exception e) {
        if (!isConflict(e)) {
          throw e;
        }
        if (attempt >= MAX_TRIES) {
          throw new ConflictException(
              "table "
                  + table
                  + ": "
                  + what
                  + " was refused "
                  + MAX_TRIES
                  + " times by concurrent writers ("
                  + rootMessage(e)
                  + "); rerun the step",
              e);
        }
        try {
          Thread.sleep(backoff / 2 + ThreadLocalRandom.current().nextLong(backoff / 2 + 1));
        } catch (InterruptedException ie) {
          Thread.currentThread().interrupt();
          throw e;
        }
        backoff = Math.min(MAX_BACKOFF_MILLIS, backoff * 2);
      }
    }
  }

  /** Whether {@code e} (or a cause) is a concurrency conflict worth retrying. */
  static boolean isConflict(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
      if (t instanceof ConcurrentModificationException) {
        return true;
      }
      String msg = String.valueOf(t.getMessage());
      boolean deltaLog = msg.contains("_delta_log");
      if (deltaLog
          && (t instanceof FileNotFoundException
              || t instanceof java.nio.file.NoSuchFileException
              || t instanceof java.nio.file.FileAlreadyExistsException
              || t.getClass()
                  .getName()
                  .equals("org.apache.hadoop.fs.FileAlreadyExistsException"))) {
        return true;
      }
    }
    return false;
  }

  private static String rootMessage(Throwable e) {
    Throwable t = e;
    while (t.getCause() != null && t.getCause() != t) {
      t = t.getCause();
    }
    String m = String.valueOf(t.getMessage()).replace('\n', ' ');
    return t.getClass().getSimpleName()
        + ": "
        + (m.length() > 200 ? m.substring(0, 200) + "..." : m);
  }
}
