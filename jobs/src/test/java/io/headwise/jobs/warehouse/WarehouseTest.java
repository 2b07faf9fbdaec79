package io.headwise.jobs.warehouse;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.headwise.jobs.SparkTestBase;
import io.headwise.jobs.cli.CliRunner;
import io.headwise.schemas.HeadwiseException;
import io.headwise.schemas.TableContract;
import io.headwise.schemas.Tables;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.functions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The warehouse's write protocol on small synthetic tables: a failing step removes exactly its own
 * rows, rows of an attempt without a runs row (a killed step) are never read, a rerun supersedes
 * the earlier attempt, and {@code headwise maintain} deletes only rows readers no longer see.
 */
class WarehouseTest extends SparkTestBase {
  private static final String MODEL = "sha256:test";

  @TempDir Path tmp;

  @Test
  void aFailingStepRemovesOnlyItsOwnRowsAndWritesNoRunsRow() {
    Warehouse w = new Warehouse(spark, tmp.resolve("wh"));
    step(w, "r1", stats("r1", 3));
    long before = stored(w, Tables.HEAD_STATS);
    // the second table's rows fail while being written: a SparkException (checked) from the task,
    // as a full disk gives
    List<Warehouse.TableWrite> writes =
        List.of(
            new Warehouse.TableWrite(Tables.HEAD_STATS, stats("r2", 4), Map.of()),
            new Warehouse.TableWrite(
                Tables.TOKEN_IMPORTANCE,
                importance("r2")
                    .withColumn(
                        "layer",
                        functions.expr("cast(raise_error('simulated write failure') as int)")),
                Map.of()),
            new Warehouse.TableWrite(Tables.RUNS, runs(w, "r2"), Map.of()));
    Throwable e = assertThrows(Throwable.class, () -> w.commit(writes, "test"));
    boolean named = false;
    for (Throwable t = e; t != null; t = t.getCause()) {
      named |= String.valueOf(t.getMessage()).contains("simulated write failure");
    }
    assertTrue(named, String.valueOf(e));
    assertEquals(
        before, stored(w, Tables.HEAD_STATS), "the failed attempt's head_stats rows were deleted");
    assertEquals(0, stored(w, Tables.TOKEN_IMPORTANCE));
    assertEquals(1, w.read(Tables.RUNS).orElseThrow().count());
    assertEquals(3, w.read(Tables.HEAD_STATS).orElseThrow().count());
  }

  @Test
  void rowsOfAnAttemptWithoutARunsRowAreNeverRead() {
    Warehouse w = new Warehouse(spark, tmp.resolve("wh"));
    step(w, "r1", stats("r1", 3));
    // what a step killed between its table append and its runs row leaves behind
    stats("r1", 5)
        .withColumn("attempt_id", functions.lit(Attempts.next()))
        .write()
        .format("delta")
        .mode("append")
        .save(w.path(Tables.HEAD_STATS).toString());
    assertEquals(8, stored(w, Tables.HEAD_STATS));
    assertEquals(3, w.read(Tables.HEAD_STATS).orElseThrow().count());
  }

  @Test
  void creatingATableWhileAnotherStepHasOnlyBegunCreatingItWaitsAndSucceeds() throws Exception {
    Warehouse w = new Warehouse(spark, tmp.resolve("wh"));
    // what a step that has begun creating the table leaves for an instant: a _delta_log folder
    // and no commit yet; Delta refuses to create a table there (DELTA_CREATE_TABLE_WITH_NON_EMPTY
    // _LOCATION, a checked exception) and the step must retry, not fail
    Path log = Files.createDirectories(w.path(Tables.HEAD_STATS).resolve("_delta_log"));
    Thread other =
        new Thread(
            () -> {
              try {
                Thread.sleep(400);
                Files.delete(log); // the other step gave up, so this one creates the table
              } catch (Exception e) {
                throw new IllegalStateException(e);
              }
            });
    other.start();
    w.create(Tables.HEAD_STATS);
    other.join();
    assertEquals(0, stored(w, Tables.HEAD_STATS));
  }

  @Test
  void aFolderThatIsNotADeltaTableIsNamedNotOverwritten() throws Exception {
    Warehouse w = new Warehouse(spark, tmp.resolve("wh"));
    Path stray = Files.createDirectories(w.path(Tables.HEAD_STATS)).resolve("notes.txt");
    Files.writeString(stray, "someone else's file");
    HeadwiseException e = assertThrows(HeadwiseException.class, () -> w.create(Tables.HEAD_STATS));
    assertTrue(e.getMessage().contains("is not a Delta table; move it away"), e.getMessage());
    assertEquals("someone else's file", Files.readString(stray));
  }

  /** Slow: VACUUM lists every table's files (minutes on a loaded 2-core machine). */
  @Test
  @Tag("slow")
  void aRerunSupersedesAndMaintainDeletesOnlyWhatReadersNoLongerSee() throws Exception {
    Path root = tmp.resolve("wh");
    Warehouse w = new Warehouse(spark, root);
    step(w, "r1", stats("r1", 3));
    step(w, "r2", stats("r2", 2));
    step(w, "r1", stats("r1", 4)); // rerun of r1 with other rows
    assertEquals(9, stored(w, Tables.HEAD_STATS));
    assertEquals(6, w.read(Tables.HEAD_STATS).orElseThrow().count());
    assertEquals(4, w.read(Tables.HEAD_STATS).orElseThrow().filter("run_id = 'r1'").count());
    assertEquals(2, w.read(Tables.RUNS).orElseThrow().count());

    CliRunner.Result kept = CliRunner.run("maintain", "--warehouse", root.toString());
    assertEquals(0, kept.exitCode(), kept.err());
    assertEquals(
        9, stored(w, Tables.HEAD_STATS), "the default retention keeps attempts of the last 7 days");

    long filesBefore = parquetFiles(w.path(Tables.HEAD_STATS));
    CliRunner.Result r =
        CliRunner.run("maintain", "--warehouse", root.toString(), "--retain-hours", "0");
    assertEquals(0, r.exitCode(), r.err());
    assertTrue(r.out().contains("head_stats: deleted 3 rows"), r.out());
    assertEquals(6, stored(w, Tables.HEAD_STATS));
    assertEquals(6, w.read(Tables.HEAD_STATS).orElseThrow().count());
    assertEquals(2, stored(w, Tables.RUNS));
    assertTrue(
        parquetFiles(w.path(Tables.HEAD_STATS)) < filesBefore, "vacuum removed the deleted files");

    CliRunner.Result bad =
        CliRunner.run("maintain", "--warehouse", root.toString(), "--retain-hours", "-1");
    assertEquals(2, bad.exitCode());
    assertTrue(bad.err().startsWith("headwise: error: --retain-hours"), bad.err());
  }

  private static long parquetFiles(Path table) throws Exception {
    try (var s = Files.walk(table)) {
      return s.filter(p -> p.toString().endsWith(".parquet")).count();
    }
  }

  private static long stored(Warehouse w, TableContract t) {
    return w.stored(t).orElseThrow().count();
  }

  private static void step(Warehouse w, String run, Dataset<Row> stats) {
    w.commit(
        List.of(
            new Warehouse.TableWrite(Tables.HEAD_STATS, stats, Map.of()),
            new Warehouse.TableWrite(Tables.RUNS, runs(w, run), Map.of())),
        "test");
  }

  private static Dataset<Row> runs(Warehouse w, String run) {
    return RunRecords.row(
        w, run, "profile", MODEL, "test", Instant.now(), Map.of(), Map.of(), null);
  }

  private static Dataset<Row> stats(String run, int n) {
    List<Row> rows = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      rows.add(RowFactory.create(MODEL, run, 0, i, i, 16, 10L, "entropy_mean", 0.5));
    }
    return new Warehouse(spark, Path.of("unused")).rows(Tables.HEAD_STATS, rows);
  }

  private static Dataset<Row> importance(String run) {
    return new Warehouse(spark, Path.of("unused"))
        .rows(
            Tables.TOKEN_IMPORTANCE,
            List.of(RowFactory.create(MODEL, run, "s0", 0, 16, List.of(1.0f, 2.0f))));
  }
}
