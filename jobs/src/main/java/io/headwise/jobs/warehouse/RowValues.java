package io.headwise.jobs.warehouse;

import org.apache.spark.sql.Row;

/** Nullable columns of a table row by name, as the steps that turn rows into records read them. */
public final class RowValues {
  private RowValues() {}

  /** String column {@code field}, null when the value is null. */
  public static String str(Row r, String field) {
    int i = r.fieldIndex(field);
    return r.isNullAt(i) ? null : r.getString(i);
  }

  /** Double column {@code field}, null when the value is null. */
  public static Double dbl(Row r, String field) {
    int i = r.fieldIndex(field);
    return r.isNullAt(i) ? null : r.getDouble(i);
  }
}
