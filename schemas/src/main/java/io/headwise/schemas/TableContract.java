package io.headwise.schemas;

import java.util.List;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.Schema;

/**
 * One table of the warehouse: its folder name, Arrow schema (the source of truth), partition
 * columns, the columns that identify the rows one step run replaces, and what the table is for.
 */
public record TableContract(
    String name,
    Schema schema,
    List<String> partitionColumns,
    List<String> replaceKeys,
    String description) {

  public List<Field> fields() {
    return schema.getFields();
  }

  /** Names of the columns, in order. */
  public List<String> columnNames() {
    return schema.getFields().stream().map(Field::getName).toList();
  }
}
