package io.headwise.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Map;
import org.junit.jupiter.api.Test;

class PlanSummaryFormatTest {
  @Test
  void kvFractionsArePrintedForPeopleInLengthOrder() {
    assertEquals(
        "0.5 at length 128, 0.2501 at length 512",
        PlanJob.kvFractions(Map.of(512, 0.25009999, 128, 0.4999999999999995)));
  }
}
