package io.headwise.profilers;

import io.headwise.graph.AttentionBlock;
import io.headwise.graph.AttentionMap;
import io.headwise.graph.OnnxModel;
import io.headwise.schemas.HeadwiseException;
import java.io.Serializable;
import java.util.List;
import java.util.Set;

/**
 * How many query rows the tiled core computes per block: a fixed {@code --query-block}, or as many
 * as fit a memory budget for the block's [B, H, tq, T] float tensors ({@code
 * --attention-memory-mb}; by default an eighth of the JVM's maximum heap, i.e. of the executor
 * memory under Spark), capped at max(64, T / 8) rows, which keeps the block's working set small
 * enough for the CPU caches. A block of at least the sequence length means the untiled route.
 *
 * <p>The budget is an estimate of the loop body's peak: {@value #LIVE_BLOCK_TENSORS} live [B, H,
 * tq, T] float tensors (scores, masked scores, probabilities, their cumulative sum and two
 * element-wise temporaries of the statistics), not a limit ONNX Runtime enforces.
 *
 * @param queryBlock fixed rows per block, or null
 * @param memoryMb the budget in MiB, or null for the default
 */
public record AttentionTiling(Integer queryBlock, Integer memoryMb) implements Serializable {
  static final int LIVE_BLOCK_TENSORS = 6;

  /**
   * Query rows per block in graphs that serve every length with one session (the sensitivity
   * ablation graph and quantize's Hessian capture): the loop's trip count follows the input, a
   * sequence of up to 64 tokens is one block, longer ones never hold more than 64 query rows of
   * probabilities per layer.
   */
  public static final int GRAPH_BLOCK = 64;

  /** Blocks are capped at max({@value #MIN_CAP}, T / 8) rows. */
  static final int MIN_CAP = 64;

  private static final long MIB = 1L << 20;

  public AttentionTiling {
    if (queryBlock != null && queryBlock <= 0) {
      throw new HeadwiseException(
          "--query-block takes a positive number of query rows, got " + queryBlock);
    }
    if (memoryMb != null && memoryMb <= 0) {
      throw new HeadwiseException(
          "--attention-memory-mb takes a positive number of MiB, got " + memoryMb);
    }
    if (queryBlock != null && memoryMb != null) {
      throw new HeadwiseException("give --query-block or --attention-memory-mb, not both");
    }
  }

  /** The default: a budget of an eighth of the maximum heap. */
  public static AttentionTiling defaults() {
    return new AttentionTiling(null, null);
  }

  /** The untiled route at every length (benchmarks and the reference side of comparisons). */
  public static AttentionTiling untiled() {
    return new AttentionTiling(Integer.MAX_VALUE, null);
  }

  /** The budget in MiB this tiling uses when no block is fixed. */
  public long budgetMb() {
    return memoryMb != null ? memoryMb : Math.max(1, Runtime.getRuntime().maxMemory() / 8 / MIB);
  }

  /**
   * Rows per block for sequences padded to {@code length} in batches of {@code batch} through
   * {@code map}'s layers (the widest layer counts); at least {@code length} means untiled. A budget
   * too small for one query row of every head of one sequence is an error.
   */
  public int rowsFor(int length, int batch, AttentionMap map) {
    if (queryBlock != null) {
      return Math.min(queryBlock, length);
    }
    int heads = map.blocks().stream().mapToInt(AttentionBlock::numHeads).max().orElse(1);
    long perRow = (long) Math.max(1, batch) * heads * length * 4L * LIVE_BLOCK_TENSORS;
    long rows = budgetMb() * MIB / perRow;
    if (rows < 1) {
      long needMb = (perRow + MIB - 1) / MIB;
      throw new HeadwiseException(
          "--attention-memory-mb "
              + budgetMb()
              + " is too small for one query row of "
              + heads
              + " heads × "
              + Math.max(1, batch)
              + " sequences at length "
              + length
              + " (the tiled core needs"
              + " at least "
              + needMb
              + " MiB; raise it or lower --batch-size)");
    }
    return (int) Math.min(length, Math.min(rows, Math.max(MIN_CAP, length / 8)));
  }

  /**
   * The layers of {@code map} the tiled core rewrites (the others keep the untiled route at every
   * length).
   */
  public static List<Integer> tiledLayers(OnnxModel model, AttentionMap map) {
    Set<Integer> layers = TiledCore.tileableLayers(model, map);
    return layers.stream().sorted().toList();
  }

  /** Why layer {@code b} is not tiled, or null when it is among {@link #tiledLayers}. */
  public static String whyUntiled(OnnxModel model, AttentionMap map, AttentionBlock b) {
    String structural = TiledCore.reasonNotTiled(b);
    if (structural != null) {
      return structural;
    }
    return TiledCore.tileableLayers(model, map).contains(b.layer())
        ? null
        : "its score path is not scale·Q·Kᵀ plus the padding/causal mask on a probe batch (e.g. a sliding window,"
            + " a positional bias or soft-capping)";
  }
}
