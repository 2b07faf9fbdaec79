package io.headwise.export.formats;

import io.headwise.schemas.HeadwiseException;
import io.headwise.schemas.PlanMeta;
import io.headwise.schemas.PlanRow;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * MoA's elastic-rule file {@code moa_alpha_beta.json}: {@code {"alphas": [[α per query head] per layer], "betas":
 * [...]}}, span α + β·N per head including its sink tokens. Always per query head (MoA runs GQA models as MHA):
 * kv-head plans are expanded, query head h taking kv head ⌊h/g⌋. A streaming/elastic row maps to
 * α = sinkTokens + alpha, β = beta; a full row to α = 0, β = 1 (span exactly N at every length, rather than α = max
 * length, which would depend on the lengths planned for). Budget heads (dynamic eviction) have no static span and
 * are refused, naming the head.
 */
public final class MoaFormat implements PlanFormat {
  public static final String NAME = "moa";
  public static final String FILE = "moa_alpha_beta.json";

  @Override
  public String name() {
    return NAME;
  }

  @Override
  public void write(PlanMeta meta, List<PlanRow> rows, Path outputDir) {
    PlanGrid grid = PlanGrid.of(meta, rows);
    List<List<Double>> alphas = new ArrayList<>();
    List<List<Double>> betas = new ArrayList<>();
    for (int l = 0; l < grid.numLayers; l++) {
      List<Double> a = new ArrayList<>();
      List<Double> b = new ArrayList<>();
      for (int h = 0; h < grid.numHeads; h++) {
        PlanRow r = grid.queryHead(l, h);
        switch (r.kind()) {
          case PlanRow.FULL:
            a.add(0.0);
            b.add(1.0);
            break;
          case PlanRow.STREAMING:
          case PlanRow.ELASTIC:
            a.add(r.sinkTokens() + r.alpha());
            b.add(r.beta());
            break;
          default:
            throw new HeadwiseException("MoA rules are static spans alpha + beta*N, but layer " + r.layer()
                + ", head " + r.head() + " of plan " + meta.planId() + " is a '" + r.kind() + "' head (dynamic"
                + " eviction); export it in another format");
        }
      }
      alphas.add(a);
      betas.add(b);
    }
    Map<String, Object> json = new LinkedHashMap<>();
    json.put("alphas", alphas);
    json.put("betas", betas);
    AtomicOutput.write(outputDir, Map.of(FILE, Json.bytes(json)));
  }
}
