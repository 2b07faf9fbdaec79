package io.headwise.profilers;

import io.headwise.schemas.HeadwiseException;
import java.io.Serializable;
import java.util.Locale;

/**
 * Which ONNX Runtime execution provider runs a session: {@code cpu} (default), {@code
 * cuda[:device]} (fails clearly when CUDA cannot load), or {@code auto} (tries CUDA, falls back to
 * CPU with a warning).
 */
public record ExecutionProvider(Kind kind, int deviceId) implements Serializable {
  /** The provider families. */
  public enum Kind {
    CPU,
    CUDA,
    AUTO
  }

  public static final ExecutionProvider CPU = new ExecutionProvider(Kind.CPU, 0);

  /**
   * Sequences per ONNX Runtime run when the user gives none: 1 on the CPU EP, where one sequence's
   * [H, T, T] tensors stay in cache (faster and better scaling across cores than 8 in {@code
   * bench}-style runs: stories260k 512 × 256 tokens 18.4 s vs 22.2 s on one core, 1.79× vs 1.54× on
   * two), 8 where CUDA may run.
   */
  public int defaultBatchSize() {
    return kind == Kind.CPU ? 1 : 8;
  }

  /**
   * {@code requested} when positive, {@link #defaultBatchSize()} for 0; a negative value is a user
   * error.
   */
  public int batchSize(int requested, String option) {
    if (requested < 0) {
      throw new HeadwiseException(
          option
              + " must be a positive number of sequences, or 0 for"
              + " the default of the execution provider, got "
              + requested);
    }
    return requested == 0 ? defaultBatchSize() : requested;
  }

  /** Parses {@code cpu}, {@code cuda}, {@code cuda:N} or {@code auto}. */
  public static ExecutionProvider parse(String spec) {
    if (spec == null || spec.isBlank()) {
      return CPU;
    }
    String s = spec.trim().toLowerCase(Locale.ROOT);
    if (s.equals("cpu")) {
      return CPU;
    }
    if (s.equals("auto")) {
      return new ExecutionProvider(Kind.AUTO, 0);
    }
    if (s.equals("cuda")) {
      return new ExecutionProvider(Kind.CUDA, 0);
    }
    if (s.startsWith("cuda:")) {
      try {
        int id = Integer.parseInt(s.substring(5));
        if (id >= 0) {
          return new ExecutionProvider(Kind.CUDA, id);
        }
      } catch (NumberFormatException e) {
        // fall through to the error below
      }
    }
    throw new HeadwiseException(
        "--ep must be cpu, cuda, cuda:<device id> or auto, got '" + spec + "'");
  }

  /** This provider on another device (Spark tasks take the device id from their GPU resource). */
  public ExecutionProvider onDevice(int device) {
    return new ExecutionProvider(kind, device);
  }

  @Override
  public String toString() {
    return kind == Kind.CUDA ? "cuda:" + deviceId : kind.name().toLowerCase(Locale.ROOT);
  }
}
