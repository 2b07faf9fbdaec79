package io.headwise.jobs.warehouse;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.lit;

import io.delta.tables.DeltaTable;
import io.headwise.jobs.spark.SparkSchemas;
import io.headwise.schemas.Column;
import io.headwise.schemas.HeadwiseException;
import io.headwise.schemas.TableContract;
import io.headwise.schemas.Tables;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.ConcurrentModificationException;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Stream;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SaveMode;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;

/**
 * The Delta tables under a warehouse root (one folder per table). Parallel steps on one warehouse
 * are normal, so a step never rewrites or restores what another wrote: {@link #commit} creates
 * missing tables with their schema, then appends the step's rows tagged with a fresh attempt id,
 * and appends the {@code runs} row last; readers see only rows of attempts with a succeeded runs
 * row ({@link CurrentRows}). On any failure the step deletes exactly the rows of its own attempt
 * (and if that fails too, those rows stay invisible). Writes refused by Delta's optimistic
 * concurrency are retried ({@link DeltaRetry}). Steps never VACUUM: {@code headwise maintain} does.
 *
 * <p>One class (about 420 lines) because table creation, schema evolution, the attempt-tagged
 * commit and its clean-up are one protocol over the same table layout and must change together; the
 * parts that stand alone are already apart: retries ({@link DeltaRetry}), which attempts readers
 * see ({@link CurrentRows}, {@link Attempts}) and the runs row ({@link RunRecords}).
 */
public final class Warehouse {
  /** Writes up to this many rows go to one file per model partition. */
  static final long SMALL_WRITE_ROWS = 200_000;

  private final SparkSession spark;
  private final Path root;

  /**
   * One table write of a step: the rows and, for tables without attempts ({@code published_plans}),
   * the values of the key columns whose rows the write replaces (other tables are appended to;
   * their keys are informational).
   */
  public record TableWrite(TableContract table, Dataset<Row> rows, Map<String, String> keys) {}

  public Warehouse(SparkSession spark, Path root) {
    this.spark = spark;
    this.root = root.toAbsolutePath().normalize();
    if (Files.exists(this.root) && !Files.isDirectory(this.root)) {
      throw new HeadwiseException("warehouse " + this.root + " is a file, not a directory");
    }
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

  /**
   * Every stored row of a table (all attempts, with {@code attempt_id}), or empty when the table
   * does not exist.
   */
  public Optional<Dataset<Row>> stored(TableContract table) {
    if (!exists(table)) {
      return Optional.empty();
    }
    Dataset<Row> d = spark.read().format("delta").load(path(table).toString());
    List<String> columns = List.of(d.columns());
    for (org.apache.arrow.vector.types.pojo.Field f : table.fields()) {
      String older = Column.olderRows(f);
      if (older == null) {
        continue;
      }
      // a column added to the contract later: null (or absent) in rows written before it existed
      d =
          d.withColumn(
              f.getName(),
              columns.contains(f.getName())
                  ? functions.coalesce(col(f.getName()), lit(older))
                  : lit(older));
    }
    if (Tables.hasAttempts(table) && !columns.contains(Tables.ATTEMPT_ID.getName())) {
      throw new HeadwiseException(
          "table "
              + table.name()
              + " at "
              + path(table)
              + " has no "
              + Tables.ATTEMPT_ID.getName()
              + " column: it was written by an older headwise; move it away and rerun"
              + " the steps that write it");
    }
    return Optional.of(d);
  }

  /**
   * The current rows of a table (contract columns; see {@link CurrentRows}), or empty when it does
   * not exist.
   */
  public Optional<Dataset<Row>> read(TableContract table) {
    return readWithAttempts(table).map(d -> d.selectExpr(SparkSchemas.of(table).fieldNames()));
  }

  /** The current rows with their {@code attempt_id} (when the table has attempts). */
  public Optional<Dataset<Row>> readWithAttempts(TableContract table) {
    Optional<Dataset<Row>> stored = stored(table);
    if (stored.isEmpty() || !Tables.hasAttempts(table)) {
      return stored;
    }
    if (table == Tables.RUNS) {
      return Optional.of(CurrentRows.runs(stored.get()));
    }
    Optional<Dataset<Row>> runs = stored(Tables.RUNS);
    if (runs.isEmpty()) { // rows of attempts that never finished: nothing is current yet
      return Optional.of(stored.get().limit(0));
    }
    return Optional.of(CurrentRows.of(table, stored.get(), CurrentRows.runs(runs.get())));
  }

  /** The table's rows, or a clear error naming the step that writes it. */
  public Dataset<Row> require(TableContract table, String writtenBy) {
    return read(table)
        .orElseThrow(
            () ->
                new HeadwiseException(
                    "table "
                        + table.name()
                        + " not found under "
                        + root
                        + "; run '"
                        + writtenBy
                        + "' first"));
  }

  /** A DataFrame with the table's schema from rows built in the driver. */
  public Dataset<Row> rows(TableContract table, List<Row> rows) {
    return spark.createDataFrame(rows, SparkSchemas.of(table));
  }

  /**
   * Creates the table with its stored schema and partitioning if it does not exist yet. Two steps
   * creating it at once both succeed: the loser's creation is refused by Delta and retried, and
   * then finds the table.
   */
  public void create(TableContract table) {
    try {
      DeltaRetry.run(
          table.name(),
          "creating the table",
          () -> {
            try {
              return DeltaTable.createIfNotExists(spark)
                  .location(path(table).toString())
                  .addColumns(SparkSchemas.stored(table))
                  .partitionedBy(table.partitionColumns().toArray(new String[0]))
                  .execute();
            } catch (Exception e) {
              // Delta's AnalysisException is a checked exception Scala throws undeclared: catching
              // only RuntimeException let it through unexamined (a parallel plan on a new table
              // failed once on a fresh-clone CI run with
              // DELTA_CREATE_TABLE_WITH_NON_EMPTY_LOCATION)
              String message = String.valueOf(e.getMessage());
              if (message.contains("DELTA_CREATE_TABLE_WITH_NON_EMPTY_LOCATION")
                  || message.contains("DELTA_MISSING_DELTA_TABLE")) {
                if (onlyDeltaLog(
                    path(table))) { // another step is creating it right now: retried, then found
                  throw new ConcurrentModificationException(
                      "table " + table.name() + " is being created", e);
                }
                throw new HeadwiseException(
                    "folder "
                        + path(table)
                        + " exists but is not a Delta table; move it away"
                        + " (headwise creates the table there)");
              }
              if (message.contains("DELTA_TABLE_NOT_FOUND")) {
                // the builder saw another step's table being created (its _delta_log folder) and
                // then read it before that step's first commit existed: retried, then found
                // (tools/plan-race.sh hit this in 2 of 5 rounds on a new table)
                throw new ConcurrentModificationException(
                    "table " + table.name() + " is being created", e);
              }
              throw e;
            }
          });
    } catch (RuntimeException e) {
      throw e;
    } catch (Exception e) {
      throw new IllegalStateException(
          "could not create table " + table.name() + " at " + path(table), e);
    }
    stored(table); // a table written by an older headwise fails here, before anything is appended
    addMissingColumns(table);
  }

  /**
   * Adds the columns added to the contract later ({@link io.headwise.schemas.Column#added}) to a
   * table written before they existed, each after the contract column that precedes it, so the rows
   * appended next can carry them; the older rows hold null there, which {@link #stored} reads as
   * the column's older-rows value. Another step adding them at the same time: the loser's change is
   * refused by Delta, retried, and then finds the columns.
   */
  private void addMissingColumns(TableContract table) {
    List<org.apache.arrow.vector.types.pojo.Field> fields = table.fields();
    org.apache.spark.sql.types.StructType contract = SparkSchemas.of(table);
    try {
      DeltaRetry.run(
          table.name(),
          "adding columns",
          () -> {
            List<String> have =
                List.of(spark.read().format("delta").load(path(table).toString()).columns());
            for (int i = 0; i < fields.size(); i++) {
              String name = fields.get(i).getName();
              if (have.contains(name) || Column.olderRows(fields.get(i)) == null) {
                continue;
              }
              String comment =
                  contract.apply(name).getComment().getOrElse(() -> "").replace("'", "\\'");
              spark.sql(
                  "ALTER TABLE delta.`"
                      + path(table).toString().replace("`", "``")
                      + "` ADD COLUMNS (`"
                      + name
                      + "` "
                      + contract.apply(name).dataType().sql()
                      + " COMMENT '"
                      + comment
                      + "'"
                      + (i == 0 ? " FIRST" : " AFTER `" + fields.get(i - 1).getName() + "`")
                      + ")");
            }
            return null;
          });
    } catch (RuntimeException e) {
      throw e;
    } catch (Exception e) {
      throw new IllegalStateException(
          "could not add the new columns of table " + table.name() + " at " + path(table), e);
    }
  }

  /** Whether the folder holds nothing but a {@code _delta_log} folder (a table being created). */
  private static boolean onlyDeltaLog(Path p) {
    try (Stream<Path> s = Files.list(p)) {
      return s.allMatch(x -> x.getFileName().toString().equals("_delta_log"));
    } catch (java.io.IOException e) {
      return false;
    }
  }

  /**
   * Writes a step's tables: appends the rows of tables with attempts under a new attempt id,
   * replaces the keys of tables without ({@code published_plans}) in one transaction per table, and
   * appends the runs row(s) last. On failure, deletes the rows this attempt appended and rethrows.
   * Returns the rows written per table.
   */
  public Map<String, Long> commit(List<TableWrite> writes, String userMetadata) {
    String attempt = Attempts.next();
    Map<TableContract, List<TableWrite>> replaced = new LinkedHashMap<>();
    writes.stream()
        .filter(w -> !Tables.hasAttempts(w.table()))
        .forEach(w -> replaced.computeIfAbsent(w.table(), k -> new ArrayList<>()).add(w));
    Set<TableContract> appended = new LinkedHashSet<>();
    List<String> replacedDone = new ArrayList<>();
    Map<String, Long> counts = new LinkedHashMap<>();
    try {
      for (TableContract t : new LinkedHashSet<>(writes.stream().map(TableWrite::table).toList())) {
        create(t);
      }
      for (TableWrite w : writes) {
        if (Tables.hasAttempts(w.table()) && w.table() != Tables.RUNS) {
          appended.add(w.table());
          counts.merge(w.table().name(), append(w, attempt, userMetadata), Long::sum);
        }
      }
      for (Map.Entry<TableContract, List<TableWrite>> e : replaced.entrySet()) {
        counts.put(e.getKey().name(), replace(e.getKey(), e.getValue(), userMetadata));
        replacedDone.add(e.getKey().name());
      }
      for (TableWrite w : writes) { // last: the runs row makes the attempt's rows visible
        if (w.table() == Tables.RUNS) {
          appended.add(w.table());
          counts.merge(w.table().name(), append(w, attempt, userMetadata), Long::sum);
        }
      }
    } catch (Throwable e) {
      removeAttempt(attempt, appended);
      if (!replacedDone.isEmpty()) {
        System.err.println(
            "headwise: warning: "
                + String.join(", ", replacedDone)
                + " was committed before the"
                + " failure; a rerun of the step replaces those rows");
      }
      throw sneaky(e);
    }
    return counts;
  }

  private long append(TableWrite w, String attempt, String userMetadata) throws Exception {
    Dataset<Row> rows =
        w.rows()
            .selectExpr(SparkSchemas.of(w.table()).fieldNames())
            .withColumn(Tables.ATTEMPT_ID.getName(), lit(attempt));
    long n = rows.count();
    Dataset<Row> out =
        n <= SMALL_WRITE_ROWS ? rows.coalesce(1) : rows; // one file per partition, not per task
    DeltaRetry.run(
        w.table().name(),
        "appending " + n + " rows",
        () -> {
          out.write()
              .format("delta")
              .mode(SaveMode.Append)
              .option("userMetadata", userMetadata)
              .save(path(w.table()).toString());
          return null;
        });
    return n;
  }

  /** Replaces the rows of every write's keys with the writes' rows, in one Delta transaction. */
  private long replace(TableContract t, List<TableWrite> ws, String userMetadata) throws Exception {
    Dataset<Row> rows = null;
    List<String> predicates = new ArrayList<>();
    for (TableWrite w : ws) {
      Dataset<Row> r = w.rows().selectExpr(SparkSchemas.of(t).fieldNames());
      rows = rows == null ? r : rows.union(r);
      predicates.add("(" + predicate(w.keys()) + ")");
    }
    Dataset<Row> out = rows.coalesce(1);
    long n = out.count();
    String where = String.join(" OR ", predicates);
    DeltaRetry.run(
        t.name(),
        "replacing rows",
        () -> {
          out.write()
              .format("delta")
              .mode(SaveMode.Overwrite)
              .option("replaceWhere", where)
              .option("userMetadata", userMetadata)
              .save(path(t).toString());
          return null;
        });
    return n;
  }

  /**
   * Deletes the rows a failed attempt appended; rows left behind stay invisible (no succeeded runs
   * row).
   */
  private void removeAttempt(String attempt, Set<TableContract> tables) {
    for (TableContract t : tables) {
      try {
        DeltaRetry.run(
            t.name(),
            "removing the failed attempt's rows",
            () -> {
              DeltaTable.forPath(spark, path(t).toString())
                  .delete(col(Tables.ATTEMPT_ID.getName()).equalTo(attempt));
              return null;
            });
      } catch (Throwable e) {
        System.err.println(
            "headwise: warning: could not remove the failed attempt's rows from table "
                + t.name()
                + " ("
                + e.getClass().getSimpleName()
                + "); readers ignore them (attempt "
                + attempt
                + " has no runs"
                + " row)");
      }
    }
  }

  @SuppressWarnings("unchecked")
  private static <E extends Throwable> RuntimeException sneaky(Throwable e) throws E {
    throw (E) e;
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
