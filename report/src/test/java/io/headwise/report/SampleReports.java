package io.headwise.report;

import io.headwise.schemas.HeadStat;
import io.headwise.schemas.PlanMeta;
import io.headwise.schemas.PlanRow;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;

/**
 * Hand-built report inputs for the renderer tests: a 32 × 32-head model with every section, and
 * small edge cases.
 */
public final class SampleReports {
  public static final String MODEL =
      "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  static final Instant T0 = Instant.parse("2026-01-02T03:04:05Z");
  static final List<String> STATS =
      List.of(
          "entropy_mean",
          "sink_mass_1",
          "sink_mass_4",
          "local_mass_1",
          "local_mass_4",
          "local_mass_16",
          "local_mass_64",
          "local_mass_256",
          "coverage_s4_w16",
          "stream_deviation_s4_w1",
          "stream_deviation_s4_w4",
          "stream_deviation_s4_w16",
          "stream_deviation_s4_w64",
          "stream_deviation_s4_w256",
          "heavy_hitter_share_5",
          "heavy_hitter_share_10",
          "heavy_hitter_share_20");

  private SampleReports() {}

  /**
   * A model with {@code layers} × {@code heads} query heads ({@code kvHeads} kv heads) and every
   * table filled.
   */
  public static ReportData full(int layers, int heads, int kvHeads) {
    Random rnd = new Random(7);
    List<HeadStat> stats = new ArrayList<>();
    for (int bucket : List.of(256, 1024)) {
      long queries = bucket == 1024 ? 40960 : 2048;
      for (int l = 0; l < layers; l++) {
        for (int h = 0; h < heads; h++) {
          for (String s : STATS) {
            double v = s.startsWith("entropy") ? 0.5 + 4 * rnd.nextDouble() : rnd.nextDouble();
            stats.add(
                new HeadStat(MODEL, "s1", l, h, h / (heads / kvHeads), bucket, queries, s, v));
          }
          if (bucket == 256) {
            stats.add(
                new HeadStat(
                    MODEL,
                    "s1",
                    l,
                    h,
                    h / (heads / kvHeads),
                    bucket,
                    300,
                    "echo_score",
                    rnd.nextDouble() * 0.05));
            stats.add(
                new HeadStat(
                    MODEL,
                    "s1",
                    l,
                    h,
                    h / (heads / kvHeads),
                    bucket,
                    300,
                    "induction_score",
                    rnd.nextDouble() * 0.3));
          }
        }
      }
    }
    List<PlanRecord> plans = new ArrayList<>();
    plans.add(
        plan(
            "p-moa",
            "moa",
            PlanRow.QUERY_HEAD,
            layers,
            heads,
            kvHeads,
            (l, h) ->
                new PlanRow(
                    "p-moa",
                    MODEL,
                    "s1",
                    "moa",
                    PlanRow.QUERY_HEAD,
                    l,
                    h,
                    PlanRow.ELASTIC,
                    4,
                    16 * ((l + h) % 5),
                    0.125 * (h % 4),
                    0,
                    "{\"solver\":{\"status\":\"OPTIMAL\",\"relative_gap\":0.0012},\"sink_tokens\":4,\"moa_alpha\":"
                        + (l + h)
                        + ",\"moa_beta\":0.5,\"rule\":"
                        + (h % 3)
                        + "}"),
            0.5,
            0.4981));
    plans.add(
        plan(
            "p-duo",
            "duo",
            PlanRow.KV_HEAD,
            layers,
            heads,
            kvHeads,
            (l, h) ->
                new PlanRow(
                    "p-duo",
                    MODEL,
                    "s1",
                    "duo",
                    PlanRow.KV_HEAD,
                    l,
                    h,
                    (l * 7 + h) % 5 == 0 ? PlanRow.FULL : PlanRow.STREAMING,
                    (l * 7 + h) % 5 == 0 ? 0 : 16,
                    (l * 7 + h) % 5 == 0 ? 0 : 240,
                    (l * 7 + h) % 5 == 0 ? 1 : 0,
                    0,
                    "{\"retrieval_heads\":12,\"threshold\":0.41,\"sizes_note\":\"shrunk to 16 + 240\",\"score\":"
                        + ((l * 7 + h) % 11) / 10.0
                        + ",\"retrieval\":"
                        + ((l * 7 + h) % 5 == 0)
                        + "}"),
            0.5,
            0.5125));
    plans.add(
        plan(
            "p-ems",
            "ems",
            PlanRow.KV_HEAD,
            layers,
            heads,
            kvHeads,
            (l, h) ->
                new PlanRow(
                    "p-ems",
                    MODEL,
                    "s1",
                    "ems",
                    PlanRow.KV_HEAD,
                    l,
                    h,
                    PlanRow.BUDGET,
                    0,
                    0,
                    0,
                    100 + 10 * ((l + h) % 9),
                    "{\"diffuseness\":" + ((l + h) % 9) / 9.0 + "}"),
            0.5,
            0.49));
    plans.add(
        plan(
            "p-duo-uniform",
            "streamingllm",
            PlanRow.KV_HEAD,
            layers,
            heads,
            kvHeads,
            (l, h) ->
                new PlanRow(
                    "p-duo-uniform",
                    MODEL,
                    "s1",
                    "streamingllm",
                    PlanRow.KV_HEAD,
                    l,
                    h,
                    PlanRow.STREAMING,
                    4,
                    508,
                    0,
                    0,
                    "{\"start_size\":4,\"recent_size\":508}"),
            0.5125,
            0.5117));
    plans.add(
        plan(
            "p-moa-pareto-0",
            "moa",
            PlanRow.QUERY_HEAD,
            layers,
            heads,
            kvHeads,
            (l, h) ->
                new PlanRow(
                    "p-moa-pareto-0",
                    MODEL,
                    "s1",
                    "moa",
                    PlanRow.QUERY_HEAD,
                    l,
                    h,
                    PlanRow.ELASTIC,
                    4,
                    32,
                    0.25,
                    0,
                    "{}"),
            0.5,
            0.47));
    List<EvaluationRecord> evals = new ArrayList<>();
    evals.add(eval("e-duo", "p-duo", "duo", false, null, 0.53, 0.41, 0.82, 0.71, null));
    evals.add(
        eval(
            "e-duo", "p-duo-uniform", "streamingllm", true, "p-duo", 0.56, 1.93, 0.51, 0.02, null));
    evals.add(eval("e-moa", "p-moa", "moa", false, null, 0.61, 0.38, 0.84, 0.55, 0.9));
    evals.add(
        eval("e-moa", "p-moa-uniform", "streamingllm", true, "p-moa", 0.62, 0.75, 0.71, 0.03, 0.1));
    evals.add(eval("e-ems", "p-ems", "ems", false, null, 0.47, 0.9, 0.7, 0.3, null));
    evals.add(
        new EvaluationRecord(
            MODEL,
            "q-rtn4",
            "q-rtn4",
            "rtn-4bit",
            "prefill",
            false,
            null,
            null,
            null,
            8,
            2048,
            0.012,
            0.97,
            0.01,
            null,
            null,
            null,
            null,
            null,
            T0.plusSeconds(900)));
    List<QuantPlanRecord> quant =
        List.of(
            new QuantPlanRecord(
                MODEL,
                "q-rtn4",
                "model.layers.0.self_attn.q_proj.weight",
                "rtn",
                4,
                32,
                true,
                false,
                64,
                64,
                0.01,
                0.0,
                0.12,
                "{\"storage\":\"4-bit codes\"}"),
            new QuantPlanRecord(
                MODEL,
                "q-rtn4",
                "model.layers.0.mlp.down_proj.weight",
                "rtn",
                4,
                32,
                true,
                false,
                172,
                64,
                0.01,
                0.0,
                0.3,
                "{}"));
    List<RunRecord> runs = new ArrayList<>();
    // a profile's config as the step records it: every option, with long absolute paths
    runs.add(
        run(
            "s1",
            "profile",
            "{\"model\":\"/home/platform-user/checkouts/headwise/demo-output/models/big/"
                + "model.onnx\",\"calibration\":[\"/home/platform-user/checkouts/headwise/demo-output/calibration.jsonl\","
                + "\"/home/platform-user/checkouts/headwise/demo-output/probes.jsonl\"],\"warehouse\":\"/home/platform-user"
                + "/checkouts/headwise/warehouse\",\"run_id\":\"s1\",\"master\":\"local[*]\",\"partitions\":0,"
                + "\"batch_size\":0,\"execution_provider\":\"cpu\",\"sinks\":[1,4],\"windows\":[1,4,16,64,256,1024,4096],"
                + "\"stream_sinks\":[4],\"heavy_hitters\":[1,5,10,20],\"sensitivity\":false,\"ship_model\":\"auto\"}",
            "buckets 256 (1,024 samples, 262,144 queries), 1024 (40 samples, 40,960 queries); sessions per executor 1"));
    for (PlanRecord p : plans) {
      if (!p.planId().contains("uniform") && !p.planId().contains("pareto")) {
        runs.add(
            run(
                p.planId(),
                "plan",
                "{\"method\":\"" + p.meta().method() + "\",\"stats_run\":\"s1\"}",
                null));
      }
    }
    for (String e : List.of("e-duo", "e-moa", "e-ems")) {
      runs.add(
          run(
              e,
              "evaluate",
              "{\"plan_id\":\"" + e.substring(2) + "\",\"samples\":[\"/data/held.jsonl\"]}",
              null));
    }
    return new ReportData(
        "/data/warehouse",
        T0.plusSeconds(3600),
        "{\"headwise\":\"0.1.0-SNAPSHOT\"}",
        "",
        runs,
        stats,
        plans,
        evals,
        quant,
        Set.of());
  }

  /** Only head statistics, as after the first profile run; the other tables do not exist. */
  public static ReportData statsOnly() {
    ReportData full = full(2, 4, 2);
    return new ReportData(
        full.warehouse(),
        full.generatedAt(),
        null,
        "",
        full.runs().subList(0, 1),
        full.headStats(),
        List.of(),
        List.of(),
        List.of(),
        Set.of("attention_plans", "evaluations", "quant_plans"));
  }

  /**
   * A small report whose plan id, method, params, run config and model source carry HTML/SVG
   * injection attempts.
   */
  public static ReportData hostile(String evil) {
    List<HeadStat> stats = new ArrayList<>();
    for (int l = 0; l < 2; l++) {
      for (int h = 0; h < 2; h++) {
        stats.add(new HeadStat(MODEL, evil, l, h, h, 256, 100, "entropy_mean", 1 + l + h));
      }
    }
    List<PlanRecord> plans =
        List.of(
            plan(
                evil,
                "duo",
                PlanRow.KV_HEAD,
                2,
                2,
                2,
                (l, h) ->
                    new PlanRow(
                        evil,
                        MODEL,
                        evil,
                        "duo",
                        PlanRow.KV_HEAD,
                        l,
                        h,
                        PlanRow.FULL,
                        0,
                        0,
                        1,
                        0,
                        "{\"note_x\":\""
                            + evil.replace("\"", "\\\"")
                            + "\",\"score\":"
                            + (l + h)
                            + "}"),
                1.0,
                1.0));
    List<EvaluationRecord> evals =
        List.of(
            new EvaluationRecord(
                MODEL, evil, evil, "duo", "prefill", false, null, 1.0, 1.0, 2, 10, 0.0, 1.0, 0.0,
                null, null, null, null, null, T0),
            new EvaluationRecord(
                MODEL,
                evil,
                evil + "-uniform",
                "streamingllm",
                "prefill",
                true,
                evil,
                1.0,
                0.9,
                2,
                10,
                0.1,
                0.9,
                0.1,
                null,
                null,
                null,
                null,
                null,
                T0));
    List<RunRecord> runs =
        List.of(
            new RunRecord(
                evil,
                "evaluate",
                MODEL,
                "/m/" + evil + ".onnx",
                "succeeded",
                T0,
                T0.plusSeconds(5),
                "{\"plan_id\":\"" + evil.replace("\"", "\\\"") + "\"}",
                "{\"java\":\"17\"}",
                "{}",
                evil));
    return new ReportData(
        "/wh/" + evil, T0, null, "model " + evil, runs, stats, plans, evals, List.of(), Set.of());
  }

  /** A plan's rows from a function of (layer, head). */
  interface RowMaker {
    PlanRow row(int layer, int head);
  }

  static PlanRecord plan(
      String id,
      String method,
      String granularity,
      int layers,
      int heads,
      int kvHeads,
      RowMaker rows,
      double target,
      double expected) {
    int perLayer = PlanRow.QUERY_HEAD.equals(granularity) ? heads : kvHeads;
    List<PlanRow> out = new ArrayList<>();
    for (int l = 0; l < layers; l++) {
      for (int h = 0; h < perLayer; h++) {
        out.add(rows.row(l, h));
      }
    }
    return new PlanRecord(
        new PlanMeta(
            id,
            MODEL,
            out.get(0).statsRunId(),
            method,
            target,
            List.of(1024),
            Map.of(1024, expected),
            layers,
            heads,
            kvHeads,
            T0.plusSeconds(60).toEpochMilli()),
        out);
  }

  static EvaluationRecord eval(
      String run,
      String plan,
      String method,
      boolean baseline,
      String baselineFor,
      double kv,
      double kl,
      double top1,
      double repeat,
      Double passkey) {
    return new EvaluationRecord(
        MODEL,
        run,
        plan,
        method,
        "prefill",
        baseline,
        baselineFor,
        0.5,
        kv,
        16,
        6416,
        kl,
        top1,
        kl * 0.8,
        repeat,
        0.83,
        passkey,
        passkey == null ? null : 0.95,
        null,
        T0.plusSeconds(600));
  }

  static RunRecord run(String id, String step, String config, String message) {
    return new RunRecord(
        id,
        step,
        MODEL,
        step.equals("plan") ? null : "/models/big/model.onnx",
        "succeeded",
        T0,
        T0.plusSeconds(42),
        config,
        "{\"headwise\":\"0.1.0-SNAPSHOT\",\"spark\":\"4.0.1\",\"java\":\"17.0.15\"}",
        "{\"rows\":1}",
        message);
  }
}
