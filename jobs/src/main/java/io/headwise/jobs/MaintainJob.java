package io.headwise.jobs;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.lit;

import io.delta.tables.DeltaTable;
import io.headwise.jobs.cli.Cli;
import io.headwise.jobs.cli.ConfigOption;
import io.headwise.jobs.cli.WarehouseOptions;
import io.headwise.jobs.spark.SparkErrors;
import io.headwise.jobs.spark.SparkSessions;
import io.headwise.jobs.warehouse.Attempts;
import io.headwise.jobs.warehouse.DeltaRetry;
import io.headwise.jobs.warehouse.Warehouse;
import io.headwise.schemas.HeadwiseException;
import io.headwise.schemas.TableContract;
import io.headwise.schemas.Tables;
import java.nio.file.Files;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.Callable;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * Gives disk space back ({@code headwise maintain}): steps only append and never VACUUM, so
 * superseded attempts (a rerun's predecessor) and abandoned ones (failed or killed steps whose
 * cleanup could not run) stay on disk. This deletes the rows of attempts that readers no longer see
 * and that started more than {@code --retain-hours} ago, then VACUUMs every table with that
 * retention.
 */
@Command(
    name = "maintain",
    mixinStandardHelpOptions = true,
    description =
        "Delete rows of superseded or abandoned step attempts older than --retain-hours and VACUUM every"
            + " table with that retention. Risk: a step still running after that many hours loses its rows, and readers"
            + " or time travel to versions older than that fail; keep the default unless no step runs that long.")
public final class MaintainJob implements Callable<Integer> {
  /**
   * Delta's default retention (7 days); below it Delta's own safety check has to be switched off.
   */
  static final double DELTA_DEFAULT_RETAIN_HOURS = 168;

  @Mixin ConfigOption config;

  @Option(
      names = "--retain-hours",
      paramLabel = "H",
      defaultValue = "168",
      description =
          "Keep attempts started and files removed within the last H hours (default: ${DEFAULT-VALUE},"
              + " Delta's default).")
  double retainHours;

  @Mixin WarehouseOptions warehouse;

  /** spark-submit entry point. */
  public static void main(String[] args) {
    System.exit(Cli.run(new MaintainJob(), args));
  }

  @Override
  public Integer call() {
    if (!(retainHours >= 0) || Double.isInfinite(retainHours)) {
      throw new HeadwiseException("--retain-hours must be a number >= 0, got " + retainHours);
    }
    if (!Files.isDirectory(warehouse.warehouse)) {
      throw new HeadwiseException("warehouse " + warehouse.warehouse + " is not a directory");
    }
    SparkSession spark = SparkSessions.get(warehouse.master, "headwise maintain");
    try {
      if (retainHours
          < DELTA_DEFAULT_RETAIN_HOURS) { // the user chose less than Delta's default: see the risk
        // above
        spark.conf().set("spark.databricks.delta.retentionDurationCheck.enabled", "false");
      }
      Warehouse w = new Warehouse(spark, warehouse.warehouse);
      String cutoff =
          Attempts.prefix(Instant.now().minus(Duration.ofSeconds((long) (retainHours * 3600))));
      for (TableContract t : Tables.ALL) {
        if (!w.exists(t)) {
          continue;
        }
        long deleted = Tables.hasAttempts(t) ? purge(w, t, cutoff) : 0;
        DeltaTable.forPath(spark, w.path(t).toString()).vacuum(retainHours);
        System.out.printf(
            "%s: deleted %d rows of superseded or abandoned attempts; vacuumed (retain %s h)%n",
            t.name(), deleted, retainHours);
      }
      return 0;
    } catch (RuntimeException e) {
      throw SparkErrors.unwrap(e);
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  /** Deletes rows of attempts older than the cutoff that readers do not see; returns how many. */
  private static long purge(Warehouse w, TableContract t, String cutoff) throws Exception {
    String a = Tables.ATTEMPT_ID.getName();
    List<Object> current =
        w
            .readWithAttempts(t)
            .orElseThrow()
            .select(a)
            .distinct()
            .as(org.apache.spark.sql.Encoders.STRING())
            .collectAsList()
            .stream()
            .map(x -> (Object) x)
            .toList();
    Column stale = col(a).lt(lit(cutoff));
    if (!current.isEmpty()) {
      stale = stale.and(col(a).isin(current.toArray()).unary_$bang());
    }
    Column predicate = stale;
    Dataset<Row> stored = w.stored(t).orElseThrow();
    long n = stored.filter(predicate).count();
    if (n > 0) {
      DeltaRetry.run(
          t.name(),
          "deleting stale attempts",
          () -> {
            DeltaTable.forPath(w.spark(), w.path(t).toString()).delete(predicate);
            return null;
          });
    }
    return n;
  }
}
