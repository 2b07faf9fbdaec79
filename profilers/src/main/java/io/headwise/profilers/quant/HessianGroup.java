package io.headwise.profilers.quant;

import java.io.Serializable;
import java.util.List;

/**
 * Linear layers that read the same activation tensor (q/k/v, or gate/up) and so share one Hessian
 * {@code Σ_t w_t x_t x_tᵀ}.
 *
 * @param id position of the group in {@link LinearLayers#groups}; names the capture outputs
 * @param inputTensor the shared activation X
 * @param inFeatures K
 * @param layer the attention block whose token importance weights this group
 * @param linears the layers reading X, in graph order
 */
public record HessianGroup(
    int id, String inputTensor, int inFeatures, int layer, List<LinearLayer> linears)
    implements Serializable {

  public HessianGroup {
    linears = List.copyOf(linears);
  }
}
