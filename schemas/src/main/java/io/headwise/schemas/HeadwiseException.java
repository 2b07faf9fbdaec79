package io.headwise.schemas;

/**
 * An error caused by input the user can fix (a path, a model, an option, a table). The CLI prints
 * its message as one line and exits with code 2; nothing is written when it is thrown.
 */
public class HeadwiseException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public HeadwiseException(String message) {
    super(message);
  }

  public HeadwiseException(String message, Throwable cause) {
    super(message, cause);
  }
}
