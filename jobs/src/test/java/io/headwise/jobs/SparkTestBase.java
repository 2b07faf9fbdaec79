package io.headwise.jobs;

import io.headwise.jobs.spark.SparkSessions;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/**
 * One shared local[2] Spark session (Delta enabled) per test class, as Iceberg's and Delta's own
 * tests do.
 */
public abstract class SparkTestBase {
  protected static SparkSession spark;

  @BeforeAll
  protected static void startSpark() {
    spark = SparkSessions.get("local[2]", "headwise-test");
  }

  @AfterAll
  protected static void stopSpark() {
    if (spark != null) {
      spark.stop();
      SparkSession.clearActiveSession();
      SparkSession.clearDefaultSession();
      spark = null;
    }
  }
}
