package io.headwise.jobs.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.headwise.jobs.SparkTestBase;
import java.util.List;
import org.apache.spark.SparkException;
import org.apache.spark.api.java.JavaSparkContext;
import org.junit.jupiter.api.Test;

/**
 * An OutOfMemoryError in a local task fails the job instead of Spark exiting the JVM with code 52
 * (which would end this test JVM too), and the CLI's one error line names the remedy.
 */
class FatalTaskErrorTest extends SparkTestBase {
  @Test
  void outOfMemoryInATaskFailsTheJobAndKeepsTheJvm() {
    JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
    SparkException e =
        assertThrows(
            SparkException.class,
            () ->
                jsc.parallelize(List.of(1, 2), 2)
                    .map(
                        i -> {
                          if (i == 2) {
                            throw new OutOfMemoryError("Java heap space (thrown by the test)");
                          }
                          return i;
                        })
                    .collect());
    String line = Cli.cause(e);
    assertTrue(line.contains("OutOfMemoryError"), line);
    assertTrue(line.contains("HEADWISE_JAVA_OPTS=-Xmx"), line);
    assertEquals(3L, spark.range(3).count(), "the session still runs jobs");
  }
}
