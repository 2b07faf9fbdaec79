package io.headwise.schemas;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.apache.arrow.vector.types.pojo.Field;
import org.junit.jupiter.api.Test;

class TableDocsTest {
  @Test
  void docsTablesMdIsUpToDate() throws Exception {
    Path repo = Path.of(System.getProperty("headwise.repo.dir", ".."));
    Path doc = repo.resolve("docs/tables.md");
    assertTrue(
        Files.exists(doc),
        "docs/tables.md is missing: run TableDocs.main from the repository root");
    assertEquals(
        TableDocs.markdown(),
        Files.readString(doc),
        "docs/tables.md is out of date: regenerate it with TableDocs.main (java -cp schemas/target/classes:...)");
  }

  @Test
  void everyColumnIsDocumentedAndModelIdPartitions() {
    for (TableContract t : Tables.ALL) {
      assertEquals(List.of("model_id"), t.partitionColumns(), t.name());
      assertTrue(t.columnNames().contains("model_id"), t.name());
      for (Field f : t.fields()) {
        assertFalse(Column.doc(f).isBlank(), t.name() + "." + f.getName() + " has no doc");
      }
      assertTrue(t.columnNames().containsAll(t.replaceKeys()), t.name());
    }
  }

  @Test
  void headStatsIsLongFormat() {
    assertEquals(
        List.of(
            "model_id",
            "run_id",
            "layer",
            "head",
            "kv_head",
            "length_bucket",
            "n_queries",
            "stat",
            "value"),
        Tables.HEAD_STATS.columnNames());
  }
}
