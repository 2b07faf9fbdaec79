package io.headwise.jobs.spark;

import org.apache.spark.sql.SparkSession;

/**
 * Creates the Spark session of a step: Delta Lake enabled; {@code local[*]} unless {@code --master}
 * is given or the job runs under spark-submit (which sets {@code spark.master}).
 */
public final class SparkSessions {
  /** Delta's session extension and catalog (Delta quick-start). */
  public static final String DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension";

  public static final String DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog";

  private SparkSessions() {}

  /** The session for a step; {@code master} may be null. */
  public static SparkSession get(String master, String appName) {
    SparkSession.Builder b =
        SparkSession.builder()
            .appName(appName)
            .config("spark.sql.extensions", DELTA_EXTENSION)
            .config("spark.sql.catalog.spark_catalog", DELTA_CATALOG)
            .config("spark.sql.shuffle.partitions", "8");
    String effective = master != null ? master : System.getProperty("spark.master");
    if (effective == null) {
      effective = "local[*]";
    }
    if (master != null || System.getProperty("spark.master") == null) {
      b.master(effective);
    }
    if (effective.startsWith("local")) {
      b.config("spark.ui.enabled", "false")
          .config("spark.driver.host", "127.0.0.1")
          .config("spark.driver.bindAddress", "127.0.0.1")
          // VACUUM lists files with this many tasks (default 10000): a minute of scheduling on a
          // laptop
          .config("spark.sql.sources.parallelPartitionDiscovery.parallelism", "4")
          // A fatal error in a task (OutOfMemoryError above all) fails the job instead of making
          // Spark call System.exit(52) on the JVM, which here is the CLI's own: the step then ends
          // with its one error line and exit 1, and its writes are not left half done.
          .config("spark.executor.killOnFatalError.depth", "0");
    }
    return b.getOrCreate();
  }
}
