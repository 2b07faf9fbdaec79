package io.headwise.schemas;

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
        java.util.List.of(item));
  }

  private static Field field(String name, boolean nullable, ArrowType type, String doc) {
    return new Field(name, new FieldType(nullable, type, null, Map.of(DOC, doc)), null);
  }

  /** The documentation of a field (empty when none). */
  public static String doc(Field f) {
    return f.getMetadata() == null ? "" : f.getMetadata().getOrDefault(DOC, "");
  }
}
