package io.headwise.jobs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.headwise.jobs.cli.LocalMassSummary.BucketValue;
import java.util.List;
import org.junit.jupiter.api.Test;

class LocalMassSummaryTest {
  @Test
  void bucketsAreWeightedByTheirQueriesNotSummed() {
    // layer 0 head 0: 100 queries at 0.9 and 300 at 0.5 -> (90 + 150) / 400 = 0.6; head 1 only one
    // bucket
    List<BucketValue> rows =
        List.of(
            new BucketValue(0, 0, 100, 0.9),
            new BucketValue(0, 0, 300, 0.5),
            new BucketValue(0, 1, 50, 0.25),
            new BucketValue(1, 0, 10, 1.0),
            new BucketValue(1, 1, 10, 0.0));
    double[][] v = LocalMassSummary.weightedMeans(rows);
    assertEquals(0.6, v[0][0], 1e-12);
    assertEquals(0.25, v[0][1], 1e-12);
    assertEquals(1.0, v[1][0], 1e-12);
    assertEquals(0.0, v[1][1], 1e-12);
  }

  @Test
  void printedSharesStayWithinZeroAndOne() {
    List<BucketValue> rows =
        List.of(
            new BucketValue(0, 0, 7, 0.95),
            new BucketValue(0, 0, 9, 0.97),
            new BucketValue(0, 0, 11, 0.99),
            new BucketValue(0, 1, 3, 0.1));
    String text = LocalMassSummary.render(rows);
    String[] lines = text.split("\n");
    assertTrue(lines[0].contains("weighted by their query counts"), lines[0]);
    assertEquals("layer    h0    h1", lines[1]);
    assertEquals("0      0.97  0.10", lines[2]);
  }
}
