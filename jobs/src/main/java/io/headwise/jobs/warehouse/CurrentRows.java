package io.headwise.jobs.warehouse;

import static org.apache.spark.sql.functions.broadcast;
import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.max;
import static org.apache.spark.sql.functions.row_number;
import static org.apache.spark.sql.functions.struct;

import io.headwise.schemas.TableContract;
import io.headwise.schemas.Tables;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.expressions.Window;

/**
 * Which stored rows readers see. Steps only append, tagging rows with their attempt id, and append
 * their {@code runs} row last; so a row is current when (1) its attempt has a {@code succeeded}
 * runs row that is the newest (by finish time) of its (model_id, run_id, step) — a rerun with the
 * same run id supersedes the earlier attempt, and a failed or killed attempt, which never wrote a
 * runs row, is never seen — and (2) its attempt is the newest such attempt among those that wrote
 * the table's key columns (two evaluate runs writing the same baseline plan).
 */
public final class CurrentRows {
  private static final String ORDER = "_headwise_attempt_order";
  private static final String NEWEST = "_headwise_newest";

  private CurrentRows() {}

  /**
   * The succeeded runs rows, newest attempt per (model_id, run_id, step), with {@code attempt_id}.
   */
  public static Dataset<Row> runs(Dataset<Row> storedRuns) {
    return storedRuns
        .filter(col("status").equalTo("succeeded"))
        .withColumn(
            NEWEST,
            row_number()
                .over(
                    Window.partitionBy(keys(Tables.RUNS))
                        .orderBy(
                            col("finished_at").desc(), col(Tables.ATTEMPT_ID.getName()).desc())))
        .filter(col(NEWEST).equalTo(1))
        .drop(NEWEST);
  }

  /**
   * The current rows of {@code table} (contract columns and {@code attempt_id}) given its stored
   * rows and the current runs rows ({@link #runs}).
   */
  public static Dataset<Row> of(
      TableContract table, Dataset<Row> stored, Dataset<Row> currentRuns) {
    String attempt = Tables.ATTEMPT_ID.getName();
    if (table == Tables.RUNS) {
      return runs(stored);
    }
    Dataset<Row> attempts =
        currentRuns.select(col(attempt), struct(col("finished_at"), col(attempt)).as(ORDER));
    return stored
        .join(broadcast(attempts), attempt)
        .withColumn(NEWEST, max(col(ORDER)).over(Window.partitionBy(keys(table))))
        .filter(col(ORDER).equalTo(col(NEWEST)))
        .drop(ORDER, NEWEST);
  }

  private static Column[] keys(TableContract t) {
    return t.replaceKeys().stream().map(org.apache.spark.sql.functions::col).toArray(Column[]::new);
  }
}
