package io.headwise.schemas;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.arrow.vector.types.FloatingPointPrecision;
import org.apache.arrow.vector.types.TimeUnit;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.FieldType;

/**
 * Builders for Arrow fields that carry their column documentation in field metadata under {@code
 * doc}.
 */
public final class Column {
  /** Field-metadata key holding a column's documentation. */
  public static final String DOC = "doc";

  /**
   * Field-metadata key of a column added to a table after tables of it were written: the value (a
   * string) that rows written before the column existed are read as.
   */
  public static final String OLDER_ROWS = "older_rows";

  private Column() {}

  public static Field string(String name, boolean nullable, String doc) {
    return field(name, nullable, ArrowType.Utf8.INSTANCE, doc);
  }

  public static Field int32(String name, boolean nullable, String doc) {
    return field(name, nullable, new ArrowType.Int(32, true), doc);
  }

  public static Field int64(String name, boolean nullable, String doc) {
    return field(name, nullable, new ArrowType.Int(64, true), doc);
  }

  public static Field float64(String name, boolean nullable, String doc) {
    return field(name, nullable, new ArrowType.FloatingPoint(FloatingPointPrecision.DOUBLE), doc);
  }

  public static Field bool(String name, boolean nullable, String doc) {
    return field(name, nullable, ArrowType.Bool.INSTANCE, doc);
  }

  /** A UTC timestamp in microseconds. */
  public static Field timestamp(String name, boolean nullable, String doc) {
    return field(name, nullable, new ArrowType.Timestamp(TimeUnit.MICROSECOND, "UTC"), doc);
  }

  /** A list of non-null 32-bit ints. */
  public static Field intList(String name, boolean nullable, String doc) {
    return list(name, nullable, new ArrowType.Int(32, true), doc);
  }

  /** A list of non-null 32-bit floats. */
  public static Field floatList(String name, boolean nullable, String doc) {
    return list(name, nullable, new ArrowType.FloatingPoint(FloatingPointPrecision.SINGLE), doc);
  }

  /** A list of non-null doubles. */
  public static Field doubleList(String name, boolean nullable, String doc) {
    return list(name, nullable, new ArrowType.FloatingPoint(FloatingPointPrecision.DOUBLE), doc);
  }

  private static Field list(String name, boolean nullable, ArrowType element, String doc) {
    Field item = new Field("element", new FieldType(false, element, null), null);
    return new Field(
        name,
        new FieldType(nullable, ArrowType.List.INSTANCE, null, Map.of(DOC, doc)),
        List.of(item));
  }

  private static Field field(String name, boolean nullable, ArrowType type, String doc) {
    return new Field(name, new FieldType(nullable, type, null, Map.of(DOC, doc)), null);
  }

  /**
   * The column, marked as added after tables of it were written: headwise adds it to such a table
   * before its next write, and reads the rows written before (null there) as {@code olderRows}.
   * Only string columns are added this way.
   */
  public static Field added(Field f, String olderRows) {
    if (!(f.getType() instanceof ArrowType.Utf8)) {
      throw new IllegalArgumentException("only string columns can be added: " + f.getName());
    }
    Map<String, String> md = new HashMap<>(f.getMetadata());
    md.put(OLDER_ROWS, olderRows);
    return new Field(
        f.getName(), new FieldType(f.isNullable(), f.getType(), null, md), f.getChildren());
  }

  /**
   * For a column {@link #added} later, the value of the rows written before it existed; else null.
   */
  public static String olderRows(Field f) {
    return f.getMetadata() == null ? null : f.getMetadata().get(OLDER_ROWS);
  }

  /** The documentation of a field (empty when none). */
  public static String doc(Field f) {
    return f.getMetadata() == null ? "" : f.getMetadata().getOrDefault(DOC, "");
  }
}
