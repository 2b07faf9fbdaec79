package io.headwise.schemas;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;

/**
 * Generates {@code docs/tables.md} from {@link Tables}: every table and column with type and
 * documentation.
 */
public final class TableDocs {
  private TableDocs() {}

  /** The markdown document. */
  public static String markdown() {
    StringBuilder s = new StringBuilder();
    s.append("# Tables\n\n");
    s.append(
        "Generated from `schemas/src/main/java/io/headwise/schemas/Tables.java` (the Arrow schemas are the source"
            + " of truth); regenerate with\n`./mvnw -q -pl schemas exec:java` or by running `TableDocs.main`. A test fails"
            + " when this file is out of date.\n\n");
    s.append(
        "Every table is a Delta table in its own folder under the warehouse root, partitioned by `model_id`,"
            + " created with its schema before the first write. Steps only append, each row tagged with the step's"
            + " `attempt_id`, and append their `runs` row last. Readers (headwise's own steps and the report) see a row only"
            + " when its attempt has the newest `succeeded` runs row of its (`model_id`, `run_id`, `step`) and is the newest"
            + " such attempt for the table's key columns: a rerun with the same run id supersedes the earlier rows, and the"
            + " rows of a failed or killed attempt are never read (a failing step also deletes them). `published_plans` has"
            + " no `attempt_id`: a publish replaces its keys' rows in one Delta transaction (`replaceWhere`). Plain Parquet"
            + " or Delta readers that bypass headwise see every attempt's rows; filter on `attempt_id` against `runs`"
            + " as above. Old files are removed only by `headwise maintain` (see README). A column added to a"
            + " contract later is added to an existing table by the next step that writes it; the rows written"
            + " before hold null there, and headwise reads them as the value the column's description names. What"
            + " parallel steps, a killed step, a full disk and bad input leave in these tables, as observed by tests:"
            + " [fault-matrix.md](fault-matrix.md).\n");
    for (TableContract t : Tables.ALL) {
      s.append("\n## `").append(t.name()).append("`\n\n").append(t.description()).append("\n\n");
      s.append("Partitioned by `")
          .append(String.join("`, `", t.partitionColumns()))
          .append("`; a run replaces the rows" + " of (`")
          .append(String.join("`, `", t.replaceKeys()))
          .append("`).\n\n");
      List<Field> fields = new ArrayList<>(t.fields());
      if (Tables.hasAttempts(t)) {
        fields.add(Tables.ATTEMPT_ID);
      }
      s.append("| column | type | nullable | description |\n| --- | --- | --- | --- |\n");
      for (Field f : fields) {
        s.append("| `")
            .append(f.getName())
            .append("` | ")
            .append(typeName(f))
            .append(" | ")
            .append(f.isNullable() ? "yes" : "no")
            .append(" | ")
            .append(Column.doc(f).replace("|", "\\|"))
            .append(
                Column.olderRows(f) == null
                    ? ""
                    : " Added later: rows written before read as `" + Column.olderRows(f) + "`.")
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
      return fp.getPrecision() == org.apache.arrow.vector.types.FloatingPointPrecision.DOUBLE
          ? "double"
          : "float";
    }
    if (t instanceof ArrowType.Bool) {
      return "boolean";
    }
    if (t instanceof ArrowType.Timestamp) {
      return "timestamp";
    }
    return t.toString();
  }

  /**
   * Writes the document to {@code docs/tables.md} under the given repository root (default: the
   * current dir).
   */
  public static void main(String[] args) throws IOException {
    Path root = Path.of(args.length > 0 ? args[0] : ".");
    Path out = root.resolve("docs/tables.md");
    Files.createDirectories(out.getParent());
    Files.writeString(out, markdown(), StandardCharsets.UTF_8);
    System.out.println("wrote " + out);
  }
}
