package io.headwise.jobs.warehouse;

import io.delta.tables.DeltaTable;
import io.headwise.jobs.spark.SparkSchemas;
import io.headwise.schemas.HeadwiseException;
import io.headwise.schemas.TableContract;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SaveMode;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;

/**
 * The Delta tables under a warehouse root (one folder per table). A step writes all its tables through
 * {@link #commit}: each write replaces only the rows of the step's keys ({@code replaceWhere}); if any write fails,
 * the tables already written are restored to their previous version (or removed if the step created them), so a
 * failed step leaves every table as it was. After a successful step the replaced files are vacuumed, so the folders
 * hold only live Parquet files that plain Parquet readers can read.
 */
public final class Warehouse {
  /** Writes up to this many rows go to one file per model partition. */
  static final long SMALL_WRITE_ROWS = 200_000;

  private final SparkSession spark;
  private final Path root;
  private final boolean vacuum;

  /** One table write of a step: the rows and the values of the table's replace keys. */
  public record TableWrite(TableContract table, Dataset<Row> rows, Map<String, String> keys) {}

  public Warehouse(SparkSession spark, Path root, boolean vacuum) {
    this.spark = spark;
    this.root = root.toAbsolutePath().normalize();
    this.vacuum = vacuum;
  }

  public Path root() {
    return root;
  }

  public SparkSession spark() {
    return spark;
  }

  public Path path(TableContract table) {
    return root.resolve(table.name());
  }

  public boolean exists(TableContract table) {
    return DeltaTable.isDeltaTable(spark, path(table).toString());
  }

  /** The table's rows, or empty when the table does not exist yet. */
  public Optional<Dataset<Row>> read(TableContract table) {
    if (!exists(table)) {
      return Optional.empty();
    }
    return Optional.of(spark.read().format("delta").load(path(table).toString()));
  }

  /** The table's rows, or a clear error naming the step that writes it. */
  public Dataset<Row> require(TableContract table, String writtenBy) {
    return read(table).orElseThrow(() -> new HeadwiseException("table " + table.name() + " not found under "
        + root + "; run '" + writtenBy + "' first"));
  }

  /** A DataFrame with the table's schema from rows built in the driver. */
  public Dataset<Row> rows(TableContract table, List<Row> rows) {
    return spark.createDataFrame(rows, SparkSchemas.of(table));
  }

  /** Current version of a table, or -1 when it does not exist. */
  public long version(TableContract table) {
    if (!exists(table)) {
      return -1;
    }
    Row r = DeltaTable.forPath(spark, path(table).toString()).history(1).select("version").first();
    return r.getLong(0);
  }

  /** Writes every table or none (see class doc); returns the rows written per table. */
  public Map<String, Long> commit(List<TableWrite> writes, String userMetadata) {
    Map<TableContract, Long> before = new LinkedHashMap<>();
    List<TableContract> written = new ArrayList<>();
    Map<String, Long> counts = new LinkedHashMap<>();
    for (TableWrite w : writes) {
      before.put(w.table(), version(w.table()));
    }
    try {
      for (TableWrite w : writes) {
        Dataset<Row> rows = w.rows().selectExpr(SparkSchemas.of(w.table()).fieldNames());
        long n = rows.count();
        if (n <= SMALL_WRITE_ROWS) {
          rows = rows.coalesce(1); // one file per model partition instead of one per Spark partition
        }
        String predicate = predicate(w.keys());
        written.add(w.table());
        rows.write().format("delta").mode(SaveMode.Overwrite)
            .option("replaceWhere", predicate)
            .option("userMetadata", userMetadata)
            .partitionBy(w.table().partitionColumns().toArray(new String[0]))
            .save(path(w.table()).toString());
        counts.put(w.table().name(), n);
      }
    } catch (RuntimeException e) {
      rollback(before, written);
      throw e;
    }
    if (vacuum) {
      // VACUUM prints its summary to stdout, which belongs to the command's own output
      java.io.PrintStream stdout = System.out;
      try {
        System.setOut(new java.io.PrintStream(java.io.OutputStream.nullOutputStream()));
        for (TableContract t : new java.util.LinkedHashSet<>(written)) {
          if (removedFiles(t, before.get(t))) {
            DeltaTable.forPath(spark, path(t).toString()).vacuum(0.0);
          }
        }
      } finally {
        System.setOut(stdout);
      }
    }
    return counts;
  }

  /** Whether any commit after {@code sinceVersion} removed data files (only then is there anything to vacuum). */
  private boolean removedFiles(TableContract t, long sinceVersion) {
    if (sinceVersion < 0) {
      return false;
    }
    for (Row r : DeltaTable.forPath(spark, path(t).toString()).history()
        .filter(functions.col("version").gt(sinceVersion)).select("operationMetrics").collectAsList()) {
      scala.collection.Map<String, String> m = r.getMap(0);
      if (m != null && m.contains("numRemovedFiles") && Long.parseLong(m.apply("numRemovedFiles")) > 0) {
        return true;
      }
    }
    return false;
  }

  private void rollback(Map<TableContract, Long> before, List<TableContract> written) {
    for (TableContract t : written) {
      long v = before.get(t);
      try {
        if (v < 0) {
          deleteRecursively(path(t));
        } else if (version(t) != v) {
          DeltaTable.forPath(spark, path(t).toString()).restoreToVersion(v);
        }
      } catch (RuntimeException | IOException e) {
        System.err.println("headwise: could not roll back table " + t.name() + ": " + e.getMessage());
      }
    }
  }

  private static void deleteRecursively(Path p) throws IOException {
    if (!Files.exists(p)) {
      return;
    }
    try (Stream<Path> s = Files.walk(p)) {
      for (Path x : s.sorted(Comparator.reverseOrder()).toList()) {
        Files.delete(x);
      }
    }
  }

  /** {@code k1 = 'v1' AND k2 = 'v2'} with quotes escaped. */
  static String predicate(Map<String, String> keys) {
    List<String> parts = new ArrayList<>();
    for (Map.Entry<String, String> e : keys.entrySet()) {
      parts.add(e.getKey() + " = '" + e.getValue().replace("\\", "\\\\").replace("'", "\\'") + "'");
    }
    return String.join(" AND ", parts);
  }

  /** Rows of a table matching the keys. */
  public Dataset<Row> where(Dataset<Row> table, Map<String, String> keys) {
    Dataset<Row> d = table;
    for (Map.Entry<String, String> e : keys.entrySet()) {
      d = d.filter(functions.col(e.getKey()).equalTo(e.getValue()));
    }
    return d;
  }
}
