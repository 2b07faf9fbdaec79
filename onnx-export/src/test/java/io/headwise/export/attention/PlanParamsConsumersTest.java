package io.headwise.export.attention;

import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.headwise.export.PlanParamsDoc;
import java.io.IOException;
import org.junit.jupiter.api.Test;

/** The params keys the HeadwiseAttention and decode exports read are documented as read by them. */
class PlanParamsConsumersTest {
  @Test
  void keysTheExportsReadAreDocumentedAsReadByThem() throws IOException {
    String[][] read = {
      // method, key (the constant the export reads it by)
      {"h2o", PlanResolver.RECENT_BUDGET_TOKENS},
      {"h2o", PlanResolver.HEAVY_BUDGET_TOKENS},
      {"razor", PlanResolver.COMPENSATION_TOKENS},
      {"ems", PlanResolver.RECENT_BUDGET_TOKENS},
      {"ems", PlanResolver.MERGE_TOKENS},
    };
    for (String[] r : read) {
      String cell = PlanParamsDoc.readBy(r[0], r[1]);
      assertNotNull(cell, r[0] + " key " + r[1] + " is read by the export but not in the doc");
      assertTrue(cell.contains("export"), r[0] + " key " + r[1] + ": read by '" + cell + "'");
    }
  }
}
