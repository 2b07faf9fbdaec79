package io.headwise.jobs.warehouse;

import ai.onnxruntime.OrtEnvironment;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.headwise.schemas.Json;
import org.apache.spark.sql.SparkSession;

/** Versions of the software a step ran with, recorded in the runs table. */
public final class Versions {
  public static final String HEADWISE = "0.1.0-SNAPSHOT";

  private Versions() {}

  /** JSON object: headwise, spark, delta, onnxruntime, java. */
  public static String json(SparkSession spark) {
    ObjectNode o = Json.MAPPER.createObjectNode();
    o.put("headwise", HEADWISE);
    o.put("spark", spark.version());
    o.put("delta", implementationVersion(io.delta.tables.DeltaTable.class));
    o.put("onnxruntime", onnxRuntime());
    o.put("java", System.getProperty("java.version"));
    return o.toString();
  }

  static String onnxRuntime() {
    try {
      return OrtEnvironment.getEnvironment().getVersion();
    } catch (RuntimeException e) {
      return "unknown";
    }
  }

  /**
   * The Implementation-Version of the jar a class comes from (Delta's jar has no Maven
   * pom.properties).
   */
  static String implementationVersion(Class<?> c) {
    Package p = c.getPackage();
    return p != null && p.getImplementationVersion() != null
        ? p.getImplementationVersion()
        : "unknown";
  }
}
