package io.headwise.profilers;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The window grid per bucket: the default adds every eighth of the bucket, a given list is kept.
 */
class StatsConfigTest {
  @Test
  void theDefaultGridAddsEveryEighthOfTheBucket() {
    assertEquals(
        List.of(1, 4, 16, 32, 64, 96, 128, 160, 192, 224, 256),
        StatsConfig.defaults().windowsFor(256));
    assertEquals(
        List.of(1, 4, 16, 64, 256, 1024, 2048, 3072, 4096, 5120, 6144, 7168),
        StatsConfig.defaults().windowsFor(8192));
  }

  @Test
  void anExplicitGridIsMeasuredAsGiven() {
    StatsConfig given =
        new StatsConfig(
            List.of(4), StatsConfig.DEFAULT_WINDOWS, List.of(4), List.of(10), true, true);
    assertEquals(List.of(1, 4, 16, 64, 256), given.windowsFor(256));
    assertEquals(List.of(1, 4, 16), given.windowsFor(20));
  }
}
