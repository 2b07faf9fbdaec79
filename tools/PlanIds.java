import io.delta.tables.DeltaTable;
import java.util.List;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;

/**
 * An independent reader for tools/plan-race.sh: reads each warehouse's attention_plans and runs
 * with plain Spark + Delta (no headwise code) and prints one line per warehouse: the table's Delta
 * version, the plan ids stored (every attempt) and the plan ids a reader sees (rows whose attempt
 * has a succeeded plan runs row, docs/tables.md). One JVM for all warehouses: Spark starts once.
 * Run: java OPENS -cp CLASSPATH tools/PlanIds.java WAREHOUSE...
 */
public final class PlanIds {
  public static void main(String[] args) {
    SparkSession s =
        SparkSession.builder()
            .master("local[1]")
            .appName("plan-ids")
            .config("spark.ui.enabled", "false")
            .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
            .config(
                "spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
            .getOrCreate();
    for (String w : args) {
      System.out.println(w + " " + describe(s, w));
    }
    s.stop();
  }

  private static String describe(SparkSession s, String w) {
    String plansPath = w + "/attention_plans";
    if (!DeltaTable.isDeltaTable(s, plansPath)) {
      return "version=none stored= visible= (attention_plans is not a Delta table)";
    }
    long version =
        DeltaTable.forPath(s, plansPath).history(1).select("version").first().getLong(0);
    Dataset<Row> plans = s.read().format("delta").load(plansPath);
    Dataset<Row> runs =
        s.read()
            .format("delta")
            .load(w + "/runs")
            .filter("status = 'succeeded' and step = 'plan'")
            .select("attempt_id");
    return "version="
        + version
        + " stored="
        + ids(plans)
        + " visible="
        + ids(plans.join(runs, "attempt_id"));
  }

  private static String ids(Dataset<Row> d) {
    List<Row> rows =
        d.select("plan_id")
            .distinct()
            .filter("plan_id not like '%-pareto-%'")
            .orderBy("plan_id")
            .collectAsList();
    return String.join(",", rows.stream().map(r -> r.getString(0)).toList());
  }
}
