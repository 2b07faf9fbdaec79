package io.headwise.jobs.spark;

import io.headwise.schemas.Column;
import io.headwise.schemas.TableContract;
import io.headwise.schemas.Tables;
import java.util.ArrayList;
import java.util.List;
import org.apache.arrow.vector.types.FloatingPointPrecision;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.Metadata;
import org.apache.spark.sql.types.MetadataBuilder;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

/**
 * Converts the Arrow table contracts to Spark {@code StructType}s, keeping column docs as field
 * comments.
 */
public final class SparkSchemas {
  private SparkSchemas() {}

  /** The contract columns (what steps build and readers get back). */
  public static StructType of(TableContract table) {
    return struct(table.fields());
  }

  /**
   * The columns as stored: the contract columns, then {@code attempt_id} where the table has
   * attempts.
   */
  public static StructType stored(TableContract table) {
    List<Field> fields = new ArrayList<>(table.fields());
    if (Tables.hasAttempts(table)) {
      fields.add(Tables.ATTEMPT_ID);
    }
    return struct(fields);
  }

  private static StructType struct(List<Field> columns) {
    List<StructField> fields = new ArrayList<>();
    for (Field f : columns) {
      Metadata md = new MetadataBuilder().putString("comment", Column.doc(f)).build();
      fields.add(new StructField(f.getName(), type(f), f.isNullable(), md));
    }
    return new StructType(fields.toArray(new StructField[0]));
  }

  static DataType type(Field f) {
    ArrowType t = f.getType();
    if (t instanceof ArrowType.Utf8) {
      return DataTypes.StringType;
    }
    if (t instanceof ArrowType.Int i) {
      return i.getBitWidth() == 64 ? DataTypes.LongType : DataTypes.IntegerType;
    }
    if (t instanceof ArrowType.FloatingPoint fp) {
      return fp.getPrecision() == FloatingPointPrecision.DOUBLE
          ? DataTypes.DoubleType
          : DataTypes.FloatType;
    }
    if (t instanceof ArrowType.Bool) {
      return DataTypes.BooleanType;
    }
    if (t instanceof ArrowType.Timestamp) {
      return DataTypes.TimestampType;
    }
    if (t instanceof ArrowType.List) {
      Field item = f.getChildren().get(0);
      return DataTypes.createArrayType(type(item), item.isNullable());
    }
    throw new IllegalArgumentException(
        "no Spark type for Arrow type " + t + " of column " + f.getName());
  }
}
