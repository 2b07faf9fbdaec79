package io.headwise.planners.quant;

import java.util.Arrays;
import java.util.Optional;

/**
 * Hadamard matrices ({@code ±1} entries, {@code H·Hᵀ = n·I}) of the orders RSQ/QuaRot rotate with:
 * Sylvester for powers of two, Paley I and Paley II for the non-power-of-two factor {@code K}, and
 * {@code H_K ⊗ H_{2^m}} for {@code n = K·2^m}.
 *
 * <p>Paley constructions are implemented for prime {@code q} only (prime powers would need
 * finite-field arithmetic): Paley I gives order {@code q + 1} for {@code q ≡ 3 (mod 4)}, Paley II
 * order {@code 2(q + 1)} for {@code q ≡ 1 (mod 4)}. This covers QuaRot's hard-coded orders 12, 20,
 * 28, 36, 40, 48, 60, 108, 140, 148 (and so LLaMA-3's 14336 = 28·512, Qwen2.5's 3584 = 28·128 and
 * 18944 = 148·128), but not 52, 156 or 172, which QuaRot takes from tables; for those {@link
 * #factor} finds a larger base order if one exists.
 */
public final class Hadamard {

  /** How the base factor {@code H_K} is built. */
  public enum Base {
    /** {@code K ∈ {1, 2}}: the whole matrix is Sylvester. */
    SYLVESTER,
    /** {@code K = q + 1}, {@code q ≡ 3 (mod 4)} prime. */
    PALEY_I,
    /** {@code K = 2(q + 1)}, {@code q ≡ 1 (mod 4)} prime. */
    PALEY_II
  }

  /**
   * A way to build a Hadamard matrix of order {@code order = baseOrder · 2^log2PowerOfTwo} as
   * {@code H_baseOrder ⊗ H_{2^m}} (Sylvester for the power-of-two factor). Online Hadamards in a
   * graph apply the power-of-two part with a fast transform (or a MatMul) and the base part as a
   * dense MatMul.
   */
  public record Factorization(int order, int baseOrder, int log2PowerOfTwo, Base base) {

    /** {@code 2^log2PowerOfTwo}. */
    public int powerOfTwo() {
      return 1 << log2PowerOfTwo;
    }
  }

  private Hadamard() {}

  /** Sylvester's Hadamard matrix of order {@code n}, a power of two (entries ±1, symmetric). */
  public static double[][] sylvester(int n) {
    if (n < 1 || Integer.bitCount(n) != 1) {
      throw new IllegalArgumentException("Sylvester Hadamard needs a power of two, got " + n);
    }
    double[][] h = new double[n][n];
    for (int i = 0; i < n; i++) {
      for (int j = 0; j < n; j++) {
        h[i][j] = (Integer.bitCount(i & j) & 1) == 0 ? 1 : -1;
      }
    }
    return h;
  }

  /** Paley I Hadamard matrix of order {@code q + 1} for a prime {@code q ≡ 3 (mod 4)}. */
  public static double[][] paleyI(int q) {
    if (!isPrime(q) || q % 4 != 3) {
      throw new IllegalArgumentException("Paley I needs a prime q = 3 (mod 4), got " + q);
    }
    int[] chi = quadraticCharacter(q);
    int n = q + 1;
    double[][] h = new double[n][n];
    h[0][0] = 1;
    for (int i = 1; i < n; i++) {
      h[0][i] = 1;
      h[i][0] = -1;
      for (int j = 1; j < n; j++) {
        int jacobsthal = chi[Math.floorMod((j - 1) - (i - 1), q)];
        h[i][j] = (i == j ? 1 : 0) + jacobsthal;
      }
    }
    return h;
  }

  /** Paley II Hadamard matrix of order {@code 2(q + 1)} for a prime {@code q ≡ 1 (mod 4)}. */
  public static double[][] paleyII(int q) {
    if (!isPrime(q) || q % 4 != 1) {
      throw new IllegalArgumentException("Paley II needs a prime q = 1 (mod 4), got " + q);
    }
    int[] chi = quadraticCharacter(q);
    int m = q + 1;
    int[][] conference = new int[m][m];
    for (int i = 1; i < m; i++) {
      conference[0][i] = 1;
      conference[i][0] = 1;
      for (int j = 1; j < m; j++) {
        conference[i][j] = chi[Math.floorMod((j - 1) - (i - 1), q)];
      }
    }
    double[][] h = new double[2 * m][2 * m];
    for (int i = 0; i < m; i++) {
      for (int j = 0; j < m; j++) {
        int c = conference[i][j];
        double a;
        double b;
        double d;
        double e;
        if (c == 0) {
          a = 1;
          b = -1;
          d = -1;
          e = -1;
        } else {
          a = c;
          b = c;
          d = c;
          e = -c;
        }
        h[2 * i][2 * j] = a;
        h[2 * i][2 * j + 1] = b;
        h[2 * i + 1][2 * j] = d;
        h[2 * i + 1][2 * j + 1] = e;
      }
    }
    return h;
  }

  /**
   * The factorization {@code n = K · 2^m} with the smallest constructible base order {@code K}, if
   * any.
   */
  public static Optional<Factorization> factor(int n) {
    if (n < 1) {
      throw new IllegalArgumentException("order must be positive, got " + n);
    }
    int log2 = Integer.numberOfTrailingZeros(n);
    for (int m = log2; m >= 0; m--) {
      int k = n >> m;
      if (k == 1 || k == 2) {
        return Optional.of(new Factorization(n, 1, log2, Base.SYLVESTER));
      }
      if (k % 4 != 0) {
        continue;
      }
      if (isPrime(k - 1) && (k - 1) % 4 == 3) {
        return Optional.of(new Factorization(n, k, m, Base.PALEY_I));
      }
      int q = k / 2 - 1;
      if (isPrime(q) && q % 4 == 1) {
        return Optional.of(new Factorization(n, k, m, Base.PALEY_II));
      }
    }
    return Optional.empty();
  }

  /** The ±1 base matrix {@code H_K} of a factorization ({@code [[1]]} for Sylvester). */
  public static double[][] base(Factorization f) {
    switch (f.base()) {
      case SYLVESTER:
        return new double[][] {{1}};
      case PALEY_I:
        return paleyI(f.baseOrder() - 1);
      case PALEY_II:
        return paleyII(f.baseOrder() / 2 - 1);
      default:
        throw new IllegalStateException(f.base().toString());
    }
  }

  /** The ±1 matrix {@code H_K ⊗ H_{2^m}} of a factorization. */
  public static double[][] matrix(Factorization f) {
    if (f.base() == Base.SYLVESTER) {
      return sylvester(f.order());
    }
    return kronecker(base(f), sylvester(f.powerOfTwo()));
  }

  /**
   * The ±1 Hadamard matrix of order {@code n} built by {@link #factor}.
   *
   * @throws IllegalArgumentException if no factorization is constructible
   */
  public static double[][] matrix(int n) {
    return matrix(
        factor(n)
            .orElseThrow(
                () ->
                    new IllegalArgumentException(
                        "no Sylvester/Paley Hadamard construction for order " + n)));
  }

  /**
   * {@code matrix(n) / √n}: the orthogonal (deterministic) Hadamard transform of order {@code n}.
   */
  public static double[][] normalized(int n) {
    double[][] h = matrix(n);
    double s = 1 / Math.sqrt(n);
    for (double[] row : h) {
      for (int j = 0; j < row.length; j++) {
        row[j] *= s;
      }
    }
    return h;
  }

  /** Kronecker product {@code a ⊗ b}: entry {@code (i·rb + p, j·cb + q) = a[i][j]·b[p][q]}. */
  public static double[][] kronecker(double[][] a, double[][] b) {
    int ra = a.length;
    int ca = a[0].length;
    int rb = b.length;
    int cb = b[0].length;
    double[][] out = new double[ra * rb][ca * cb];
    for (int i = 0; i < ra; i++) {
      for (int j = 0; j < ca; j++) {
        double aij = a[i][j];
        for (int p = 0; p < rb; p++) {
          double[] dst = out[i * rb + p];
          double[] src = b[p];
          for (int q = 0; q < cb; q++) {
            dst[j * cb + q] = aij * src[q];
          }
        }
      }
    }
    return out;
  }

  static boolean isPrime(int q) {
    if (q < 2) {
      return false;
    }
    if (q % 2 == 0) {
      return q == 2;
    }
    for (long d = 3; d * d <= q; d += 2) {
      if (q % d == 0) {
        return false;
      }
    }
    return true;
  }

  /** Legendre symbol χ(a) mod q for a in [0, q): 0 at 0, 1 on nonzero squares, −1 otherwise. */
  private static int[] quadraticCharacter(int q) {
    int[] chi = new int[q];
    Arrays.fill(chi, -1);
    chi[0] = 0;
    for (long x = 1; x < q; x++) {
      chi[(int) (x * x % q)] = 1;
    }
    return chi;
  }
}
