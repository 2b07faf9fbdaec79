package io.headwise.planners.quant;

import java.util.Optional;

/**
 * An orthogonal matrix {@code Q [n][n]} ({@code Q·Qᵀ = I}, in double) for RSQ/QuaRot's offline
 * rotation, and how it was built.
 *
 * @param matrix the rotation, row-major {@code [n][n]}
 * @param construction which construction produced it
 * @param factorization the Hadamard factorization used, empty for {@link
 *     Construction#RANDOM_ORTHOGONAL}
 * @param seed the seed of the random signs or of the Gaussian matrix
 */
public record Rotation(
    double[][] matrix,
    Construction construction,
    Optional<Hadamard.Factorization> factorization,
    long seed) {

  /** How the rotation was built. */
  public enum Construction {
    /** {@code diag(±1) · H / √n}, {@code H} Sylvester ({@code n} a power of two). */
    RANDOM_HADAMARD_SYLVESTER,
    /** {@code diag(±1) · (H_K ⊗ H_{2^m}) / √n} with a Paley I {@code H_K}. */
    RANDOM_HADAMARD_PALEY_I,
    /** {@code diag(±1) · (H_K ⊗ H_{2^m}) / √n} with a Paley II {@code H_K}. */
    RANDOM_HADAMARD_PALEY_II,
    /**
     * No Hadamard construction exists for {@code n}: a Haar-random orthogonal matrix, the Q factor
     * of a seeded Gaussian matrix with column signs fixed so that {@code diag(R) > 0}. The rotation
     * stays exact (rotated model = original model up to rounding); only the incoherence guarantee
     * of a Hadamard is lost, and it cannot be applied online with a fast transform.
     */
    RANDOM_ORTHOGONAL
  }

  /** Order {@code n}. */
  public int size() {
    return matrix.length;
  }

  /** Whether the matrix is a (scaled, sign-flipped) Hadamard matrix. */
  public boolean isHadamard() {
    return construction != Construction.RANDOM_ORTHOGONAL;
  }
}
