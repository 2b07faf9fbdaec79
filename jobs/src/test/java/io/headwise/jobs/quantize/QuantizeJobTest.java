package io.headwise.jobs.quantize;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnxruntime.OrtSession;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.headwise.graph.AttentionLocator;
import io.headwise.graph.AttentionMap;
import io.headwise.graph.OnnxModel;
import io.headwise.graph.OrtModels;
import io.headwise.graph.TestModels;
import io.headwise.jobs.SparkTestBase;
import io.headwise.jobs.cli.CliRunner;
import io.headwise.jobs.cli.CliRunner.Result;
import io.headwise.jobs.spark.ModelRef;
import io.headwise.profilers.CalibrationSample;
import io.headwise.profilers.ExecutionProvider;
import io.headwise.profilers.IdArrays;
import io.headwise.profilers.quant.CaptureConfig;
import io.headwise.profilers.quant.HessianGroup;
import io.headwise.profilers.quant.HessianProfiler;
import io.headwise.profilers.quant.HessianSums;
import io.headwise.profilers.quant.LinearLayers;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import scala.Tuple2;

/**
 * The quantize step on local Spark: stories260k GPTQ W8 (close to the original) and RSQ W4 with
 * rotation (plans, rotation, MatMulNBits model that loads in ONNX Runtime, finite held-out NLL,
 * other runs' rows kept), MiniLM whose LayerNorm refuses rotation (external data, pooled-embedding
 * cosine), Hessian partial sums that add up across partitions, and bad input that writes nothing.
 */
class QuantizeJobTest extends SparkTestBase {
  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir static Path tmp;

  @Test
  void stories260kGptqW8AndRsqW4WithRotation() throws Exception {
    Path calib = ids(0, 4, "calib.jsonl");
    Path held = ids(4, 8, "held.jsonl");
    Path wh = tmp.resolve("wh");
    String model = TestModels.stories260k().toString();

    Path out8 = tmp.resolve("out/stories-gptq-w8.onnx");
    Result r =
        CliRunner.run(
            "quantize",
            "--model",
            model,
            "--calibration",
            calib.toString(),
            "--warehouse",
            wh.toString(),
            "--run-id",
            "w8",
            "--method",
            "gptq",
            "--bits",
            "8",
            "--group",
            "32",
            "--out",
            out8.toString(),
            "--eval-samples",
            held.toString(),
            "--batch-size",
            "2");
    assertEquals(0, r.exitCode(), r.err());
    Row eval8 = evaluation(wh, "w8");
    double delta8 = eval8.getDouble(eval8.fieldIndex("nll_delta"));
    assertTrue(Math.abs(delta8) < 0.05, "W8 NLL delta " + delta8);
    assertTrue(eval8.getDouble(eval8.fieldIndex("top1_agreement")) > 0.85);

    Path out4 = tmp.resolve("out/stories-rsq-w4.onnx");
    r =
        CliRunner.run(
            "quantize",
            "--model",
            model,
            "--calibration",
            TestModels.stories260kCalibration().toString(),
            "--warehouse",
            wh.toString(),
            "--run-id",
            "w4",
            "--method",
            "rsq",
            "--bits",
            "4",
            "--group",
            "32",
            "--rotate",
            "--out",
            out4.toString(),
            "--eval-samples",
            held.toString());
    assertEquals(0, r.exitCode(), r.err());
    assertTrue(r.out().contains("rsq+rotate W4 g32"), r.out());

    List<Row> plans = plans(wh, "w4");
    assertEquals(35, plans.size());
    for (Row p : plans) {
      assertEquals("rsq", p.getString(p.fieldIndex("method")));
      assertEquals(4, p.getInt(p.fieldIndex("bits")));
      assertEquals(32, p.getInt(p.fieldIndex("group_size")));
      assertTrue(p.getBoolean(p.fieldIndex("rotated")));
      assertTrue(p.getDouble(p.fieldIndex("damping")) > 0);
      JsonNode params = JSON.readTree(p.getString(p.fieldIndex("params")));
      assertEquals("attention_concentration", params.get("weighting").asText());
      assertEquals(8 * 256, params.get("calibration_tokens").asLong());
      assertTrue(params.get("rotation").asText().startsWith("RANDOM_HADAMARD"), params.toString());
    }
    Row eval4 = evaluation(wh, "w4");
    assertEquals("rsq+rotate", eval4.getString(eval4.fieldIndex("method")));
    double delta4 = eval4.getDouble(eval4.fieldIndex("nll_delta"));
    assertTrue(Double.isFinite(delta4) && delta4 > 0 && delta4 < 3, "W4 NLL delta " + delta4);

    // the exported model: MatMulNBits nodes for every linear, no stray files, and it runs in ONNX
    // Runtime
    OnnxModel q = OnnxModel.load(out4);
    long nbits =
        q.graph().getNodeList().stream().filter(n -> n.getOpType().equals("MatMulNBits")).count();
    assertEquals(35, nbits);
    for (NodeProto n : q.graph().getNodeList()) {
      if (n.getOpType().equals("MatMulNBits")) {
        assertEquals("com.microsoft", n.getDomain());
      }
    }
    try (OrtSession.SessionOptions o = new OrtSession.SessionOptions();
        OrtSession s = OrtModels.session(q, q.proto(), o)) {
      assertEquals("logits", s.getOutputNames().iterator().next());
    }
    try (Stream<Path> files = Files.list(out4.getParent())) {
      assertEquals(
          List.of("stories-gptq-w8.onnx", "stories-rsq-w4.onnx"),
          files.map(p -> p.getFileName().toString()).sorted().toList());
    }

    assertEquals(35, plans(wh, "w8").size(), "the W4 run left the W8 run's rows alone");
  }

  @Test
  void miniLmRefusesRotationByNameAndKeepsPooledEmbeddings() throws Exception {
    Random rnd = new Random(5);
    List<String> lines = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      int[] ids = new int[24];
      ids[0] = 101;
      for (int j = 1; j < ids.length - 1; j++) {
        ids[j] = 2000 + rnd.nextInt(20000);
      }
      ids[ids.length - 1] = 102;
      lines.add(
          JSON.createObjectNode()
              .put("sample_id", "m" + i)
              .set("input_ids", JSON.valueToTree(ids))
              .toString());
    }
    Path calib = Files.write(tmp.resolve("minilm.jsonl"), lines);
    Path wh = tmp.resolve("wh-minilm");
    Path out = tmp.resolve("out-minilm/minilm-w8.onnx");
    Result r =
        CliRunner.run(
            "quantize",
            "--model",
            "default",
            "--calibration",
            calib.toString(),
            "--warehouse",
            wh.toString(),
            "--run-id",
            "m",
            "--method",
            "rtn",
            "--bits",
            "8",
            "--rotate",
            "--out",
            out.toString(),
            "--eval-samples",
            calib.toString(),
            "--external-data",
            "always");
    assertEquals(0, r.exitCode(), r.err());
    assertTrue(r.err().contains("rotation refused") && r.err().contains("LayerNorm"), r.err());
    List<Row> plans = plans(wh, "m");
    assertEquals(36, plans.size());
    for (Row p : plans) {
      assertFalse(p.getBoolean(p.fieldIndex("rotated")));
      assertTrue(p.getString(p.fieldIndex("params")).contains("rotation_refused"));
    }
    assertTrue(
        Files.exists(tmp.resolve("out-minilm/minilm-w8.onnx.data")),
        "external data next to the model");
    Row eval = evaluation(wh, "m");
    assertEquals("rtn", eval.getString(eval.fieldIndex("method")));
    assertTrue(eval.getDouble(eval.fieldIndex("cosine_mean")) > 0.99);
    JsonNode result =
        JSON.readTree(
                spark
                    .read()
                    .format("delta")
                    .load(wh.resolve("runs").toString())
                    .first()
                    .getAs("config")
                    .toString())
            .get("result");
    assertTrue(result.get("pooled_cosine").asDouble() > 0.999, result.toString());
  }

  @Test
  void hessianPartialSumsAddUpAcrossPartitions() {
    OnnxModel model = OnnxModel.load(TestModels.stories260k());
    AttentionMap map = AttentionLocator.locate(model);
    List<HessianGroup> groups = LinearLayers.groups(LinearLayers.find(model.graph(), map));
    Dataset<Row> samples =
        QuantizeSamples.read(
            spark,
            List.of(TestModels.stories260kCalibration().toString()),
            model.modelId(),
            "--calibration");
    ModelRef ref = ModelRef.of(spark, model, false);
    CaptureConfig config = CaptureConfig.attentionConcentration(0.005);
    Map<Integer, double[]> one = capture(samples, 1, ref, groups, config);
    Map<Integer, double[]> three = capture(samples, 3, ref, groups, config);

    int[][] ids = IdArrays.read(TestModels.stories260kCalibration(), "calib");
    List<CalibrationSample> list = new ArrayList<>();
    for (int i = 0; i < ids.length; i++) {
      list.add(CalibrationSample.of("c" + i, ids[i], null, CalibrationSample.SOURCE_IDS));
    }
    HessianSums direct =
        new HessianProfiler(model, map, groups, config, ExecutionProvider.CPU, 1, 1).capture(list);
    assertEquals(8 * 256, Math.round(one.get(QuantizeCapturePartition.COUNTS)[0]));
    for (HessianGroup g : groups) {
      double[] a = one.get(g.id());
      double[] b = three.get(g.id());
      double[] c = direct.sum(g.id());
      for (int i = 0; i < a.length; i++) {
        double scale = Math.max(1, Math.abs(c[i]));
        assertEquals(c[i], a[i], 1e-12 * scale);
        assertEquals(c[i], b[i], 1e-12 * scale);
      }
    }
  }

  @Test
  void badInputFailsWithOneLineAndWritesNothing() throws Exception {
    Path wh = tmp.resolve("wh-bad");
    Path out = tmp.resolve("out-bad/x.onnx");
    String model = TestModels.stories260k().toString();
    String calib = TestModels.stories260kCalibration().toString();
    Result r =
        CliRunner.run(
            "quantize",
            "--model",
            model,
            "--calibration",
            calib,
            "--warehouse",
            wh.toString(),
            "--run-id",
            "b",
            "--method",
            "rsq",
            "--bits",
            "5",
            "--out",
            out.toString());
    assertEquals(2, r.exitCode());
    assertTrue(r.err().startsWith("headwise: error: --bits must be 3, 4 or 8"), r.err());
    assertEquals(1, r.err().strip().lines().count(), r.err());

    Path badIds = Files.writeString(tmp.resolve("bad.jsonl"), "{\"input_ids\": [1, 2, 9999]}\n");
    r =
        CliRunner.run(
            "quantize",
            "--model",
            model,
            "--calibration",
            badIds.toString(),
            "--warehouse",
            wh.toString(),
            "--run-id",
            "b",
            "--method",
            "gptq",
            "--out",
            out.toString());
    assertEquals(2, r.exitCode(), r.err());
    assertTrue(r.err().contains("outside the model's vocabulary"), r.err());
    assertFalse(Files.exists(wh), "no table written");
    assertFalse(
        Files.exists(out.getParent()) && Files.list(out.getParent()).findAny().isPresent(),
        "no model file or temporary left behind");
  }

  private static Map<Integer, double[]> capture(
      Dataset<Row> samples,
      int partitions,
      ModelRef ref,
      List<HessianGroup> groups,
      CaptureConfig config) {
    List<Tuple2<Tuple2<Integer, Integer>, double[]>> rows =
        samples
            .repartition(partitions)
            .javaRDD()
            .mapPartitionsToPair(
                new QuantizeCapturePartition(
                    ref, groups, config, ExecutionProvider.CPU, 1, 1, false))
            .reduceByKey(
                (a, b) -> {
                  double[] s = a.clone();
                  for (int i = 0; i < s.length; i++) {
                    s[i] += b[i];
                  }
                  return s;
                })
            .collect();
    Map<Integer, double[]> out = new HashMap<>();
    for (Tuple2<Tuple2<Integer, Integer>, double[]> t : rows) {
      assertEquals(0, t._1()._2(), "one chunk per group for K <= 1024");
      out.put(t._1()._1(), t._2());
    }
    return out;
  }

  /** A JSONL file with the stories260k calibration sequences {@code [from, to)}. */
  private static Path ids(int from, int to, String name) throws Exception {
    int[][] ids = IdArrays.read(TestModels.stories260kCalibration(), "calib");
    List<String> lines = new ArrayList<>();
    for (int i = from; i < to; i++) {
      lines.add(
          JSON.createObjectNode()
              .put("sample_id", "s" + i)
              .set("input_ids", JSON.valueToTree(ids[i]))
              .toString());
    }
    return Files.write(tmp.resolve(name), lines);
  }

  private static List<Row> plans(Path wh, String run) {
    return spark
        .read()
        .format("delta")
        .load(wh.resolve("quant_plans").toString())
        .filter(org.apache.spark.sql.functions.col("run_id").equalTo(run))
        .collectAsList();
  }

  private static Row evaluation(Path wh, String run) {
    List<Row> rows =
        spark
            .read()
            .format("delta")
            .load(wh.resolve("evaluations").toString())
            .filter(org.apache.spark.sql.functions.col("run_id").equalTo(run))
            .collectAsList();
    assertEquals(1, rows.size());
    return rows.get(0);
  }
}
