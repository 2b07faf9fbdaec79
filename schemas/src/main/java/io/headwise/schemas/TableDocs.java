package io.headwise.schemas;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;

/** Generates {@code docs/tables.md} from {@link Tables}: every table and column with type and documentation. */
public final class TableDocs {
  private TableDocs() {}

  /** The markdown document. */
  public static String markdown() {
    StringBuilder s = new StringBuilder();
    s.append("# Tables\n\n");
    s.append("Generated from `schemas/src/main/java/io/headwise/schemas/Tables.java` (the Arrow schemas are the source"
        + " of truth); regenerate with\n`./mvnw -q -pl schemas exec:java` or by running `TableDocs.main`. A test fails"
        + " when this file is out of date.\n\n");
    s.append("Every table is a Delta table in its own folder under the warehouse root, partitioned by `model_id`."
        + " A step run replaces exactly the rows of its key columns (`replaceWhere`) and nothing else.\n");
    for (TableContract t : Tables.ALL) {
      s.append("\n## `").append(t.name()).append("`\n\n").append(t.description()).append("\n\n");
      s.append("Partitioned by `").append(String.join("`, `", t.partitionColumns())).append("`; a run replaces the rows"
          + " of (`").append(String.join("`, `", t.replaceKeys())).append("`).\n\n");
      s.append("| column | type | nullable | description |\n| --- | --- | --- | --- |\n");
      for (Field f : t.fields()) {
        s.append("| `").append(f.getName()).append("` | ").append(typeName(f)).append(" | ")
            .append(f.isNullable() ? "yes" : "no").append(" | ").append(Column.doc(f).replace("|", "\\|"))
            .append(" |\n");
      }
    }
    return s.toString();
  }

  /** A readable type name (Spark SQL style). */
  public static String typeName(Field f) {
    ArrowType t = f.getType();
    if (t instanceof ArrowType.List) {
      return "array<" + typeName(f.getChildren().get(0)) + ">";
    }
    if (t instanceof ArrowType.Utf8) {
      return "string";
    }
    if (t instanceof ArrowType.Int i) {
      return i.getBitWidth() == 64 ? "bigint" : "int";
    }
    if (t instanceof ArrowType.FloatingPoint fp) {
      return fp.getPrecision() == org.apache.arrow.vector.types.FloatingPointPrecision.DOUBLE ? "double" : "float";
    }
    if (t instanceof ArrowType.Bool) {
      return "boolean";
    }
    if (t instanceof ArrowType.Timestamp) {
      return "timestamp";
    }
    return t.toString();
  }

  /** Writes the document to {@code docs/tables.md} under the given repository root (default: the current dir). */
  public static void main(String[] args) throws IOException {
    Path root = Path.of(args.length > 0 ? args[0] : ".");
    Path out = root.resolve("docs/tables.md");
    Files.createDirectories(out.getParent());
    Files.writeString(out, markdown(), StandardCharsets.UTF_8);
    System.out.println("wrote " + out);
  }
}
