package io.headwise.schemas;

import static io.headwise.schemas.Column.bool;
import static io.headwise.schemas.Column.doubleList;
import static io.headwise.schemas.Column.float64;
import static io.headwise.schemas.Column.floatList;
import static io.headwise.schemas.Column.int32;
import static io.headwise.schemas.Column.int64;
import static io.headwise.schemas.Column.intList;
import static io.headwise.schemas.Column.string;
import static io.headwise.schemas.Column.timestamp;

import java.util.List;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.Schema;

/**
 * The table contracts of the warehouse (one Delta table per folder under the warehouse root). These
 * Arrow schemas are the single source of truth: Spark schemas are derived from them and {@code
 * docs/tables.md} is generated from them. {@code model_id} is the only partition column.
 */
public final class Tables {
  private static final String MODEL_ID_DOC =
      "Model id: sha256 over the .onnx bytes and the external-data files'"
          + " names and sizes (see README). The partition column.";

  public static final TableContract RUNS =
      new TableContract(
          "runs",
          schema(
              string("run_id", false, "Run id given to the step (--run-id)."),
              string(
                  "step",
                  false,
                  "Step that wrote the row: calibrate, profile, plan, export, evaluate, quantize, report."),
              string("model_id", false, MODEL_ID_DOC),
              string(
                  "model_source",
                  true,
                  "Path of the model the step read ('default' for the embedded model)."),
              string(
                  "status",
                  false,
                  "succeeded: a step appends its runs row last, and only when everything else is written."),
              timestamp("started_at", false, "When the step started (UTC)."),
              timestamp("finished_at", false, "When the step committed (UTC)."),
              string("config", false, "JSON object of every option value the step ran with."),
              string(
                  "versions",
                  false,
                  "JSON object: headwise, spark, delta, onnxruntime, java versions."),
              string("row_counts", false, "JSON object: rows written per table by this step."),
              string("message", true, "Free-form note (e.g. bucket summary).")),
          List.of("model_id"),
          List.of("model_id", "run_id", "step"),
          "Lineage: one row per successful step run.");

  public static final TableContract CALIBRATION_SAMPLES =
      new TableContract(
          "calibration_samples",
          schema(
              string("model_id", false, MODEL_ID_DOC),
              string("run_id", false, "Calibration run id."),
              string("sample_id", false, "Sample id, unique within the run."),
              intList("input_ids", false, "Token ids."),
              intList(
                  "attention_mask",
                  true,
                  "1 for valid tokens, 0 for padding; null means all valid."),
              string(
                  "source",
                  false,
                  "text, repeat (repeated random tokens), passkey, self (model-generated) or ids."),
              int32("length", false, "Number of tokens."),
              int32(
                  "repeat_start",
                  true,
                  "Repeat probes: valid position of the first repeat's first token."),
              int32("repeat_period", true, "Repeat probes: segment length n (the period)."),
              int32("repeat_count", true, "Repeat probes: number of repeats R."),
              int32("needle_start", true, "Passkey probes: first valid position of the needle."),
              int32("needle_end", true, "Passkey probes: end (exclusive) of the needle."),
              int32(
                  "answer_start",
                  true,
                  "Passkey probes: first valid position of the answer-query span."),
              int32(
                  "answer_end", true, "Passkey probes: end (exclusive) of the answer-query span."),
              int64(
                  "seed",
                  true,
                  "Seed the sample was generated from (probes and self-generated samples).")),
          List.of("model_id"),
          List.of("model_id", "run_id"),
          "Calibration sequences (text chunks, probes, model-generated samples) that profiling and evaluation read.");

  public static final TableContract HEAD_STATS =
      new TableContract(
          "head_stats",
          schema(
              string("model_id", false, MODEL_ID_DOC),
              string("run_id", false, "Profile run id."),
              int32("layer", false, "Attention block, in graph order from 0."),
              int32("head", false, "Query head."),
              int32(
                  "kv_head",
                  false,
                  "KV head the query head reads: floor(head / (num_heads / num_kv_heads))."),
              int32(
                  "length_bucket",
                  false,
                  "Padded length of the samples (smallest power of two >= length, at least 16)."),
              int64(
                  "n_queries",
                  false,
                  "Valid queries the value averages over (repeat or answer queries for probe stats)."),
              string(
                  "stat",
                  false,
                  "Statistic name as in the contract: entropy_mean, sink_mass_{s}, local_mass_{w},"
                      + " coverage_s{S}_w{w}, stream_deviation_s{S}_w{w}, head_output_energy,"
                      + " heavy_hitter_share_{p}, echo_score, induction_score,"
                      + " needle_mass; measured sensitivities layer_output_kl_s{S}_w{w} and (--sensitivity)"
                      + " output_kl_s{S}_w{w}."),
              float64(
                  "value",
                  false,
                  "Mean over all valid queries of the bucket (stream deviation: ratio of sums).")),
          List.of("model_id"),
          List.of("model_id", "run_id"),
          "Per-head attention statistics, long format: one row per (model, run, layer, head, length bucket, stat).");

  public static final TableContract TOKEN_IMPORTANCE =
      new TableContract(
          "token_importance",
          schema(
              string("model_id", false, MODEL_ID_DOC),
              string("run_id", false, "Profile run id."),
              string("sample_id", false, "Calibration sample."),
              int32("layer", false, "Attention block."),
              int32("length_bucket", false, "Padded length the sample ran at."),
              floatList(
                  "importance",
                  false,
                  "Per valid token j: s_j = sum over heads h and valid queries i of P[h,i,j].")),
          List.of("model_id"),
          List.of("model_id", "run_id"),
          "Attention each token receives per layer (RSQ's token importance).");

  public static final TableContract ATTENTION_PLANS =
      new TableContract(
          "attention_plans",
          schema(
              string("plan_id", false, "Plan id (--plan-id)."),
              string("model_id", false, MODEL_ID_DOC),
              string("stats_run_id", false, "Profile run the plan was made from."),
              string("method", false, "dense, streamingllm, h2o, moa, duo, razor or ems."),
              string("granularity", false, "kv_head (head indexes kv heads) or query_head."),
              int32("layer", false, "Attention block."),
              int32("head", false, "KV head or query head, per granularity."),
              string(
                  "kind",
                  false,
                  "full, streaming (sink + window), elastic (alpha + beta*N) or budget (dynamic policy)."),
              int32("sink_tokens", false, "Leading tokens always kept."),
              float64(
                  "alpha",
                  false,
                  "Kept span at length N is min(N, sink_tokens + max(0, alpha + beta*N))."),
              float64("beta", false, "See alpha."),
              int32("budget_tokens", false, "Tokens a budget head keeps (0 for other kinds)."),
              string("params", false, "JSON: method parameters, scores, solver report."),
              intList("target_lengths", false, "Lengths the plan was sized for."),
              float64("kv_fraction_target", false, "Requested KV fraction."),
              doubleList(
                  "expected_kv_fraction",
                  false,
                  "Expected KV fraction at each target length, same order."),
              int32("num_layers", false, "Attention blocks of the model."),
              int32("num_heads", false, "Query heads per block."),
              int32("num_kv_heads", false, "KV heads per block."),
              timestamp("created_at", false, "When the plan was made (UTC).")),
          List.of("model_id"),
          List.of("model_id", "plan_id"),
          "KV-cache plans: one row per (plan, layer, head).");

  public static final TableContract QUANT_PLANS =
      new TableContract(
          "quant_plans",
          schema(
              string("model_id", false, MODEL_ID_DOC),
              string("run_id", false, "Quantize run id."),
              string("name", false, "Initializer name of the quantized weight (the linear layer)."),
              string("method", false, "rtn, gptq or rsq."),
              int32(
                  "bits",
                  false,
                  "Code width: 3, 4 or 8 (3-bit codes are stored in 4-bit containers)."),
              int32("group_size", false, "Quantization group along the input dimension."),
              bool(
                  "symmetric",
                  false,
                  "Symmetric grid (zero point 2^(bits-1), no zero-point input)."),
              bool(
                  "rotated",
                  false,
                  "Whether the model was rotated (random Hadamard) before quantization."),
              int32("in_features", false, "K."),
              int32("out_features", false, "N."),
              float64("damping", false, "Dampening added to the Hessian diagonal (absolute)."),
              float64("gptq_loss", false, "GPTQ loss sum (w - q)^2 / U_ii^2 / 2 (0 for rtn)."),
              float64("seconds", false, "Wall time spent quantizing this layer."),
              string("params", false, "JSON: r_min, block size, retries, storage notes.")),
          List.of("model_id"),
          List.of("model_id", "run_id"),
          "Weight quantization plans: one row per quantized linear layer.");

  /** The evaluations column that records how a plan measured against its uniform baseline. */
  public static final String AGAINST_UNIFORM = "against_uniform";

  /** Values of {@link #AGAINST_UNIFORM} besides {@code worse: ...}. */
  public static final String NOT_WORSE = "not worse";

  public static final String BASELINE_ROW = "baseline";
  public static final String NOT_COMPARED = "not compared";

  public static final TableContract EVALUATIONS =
      new TableContract(
          "evaluations",
          schema(
              string("model_id", false, MODEL_ID_DOC),
              string("run_id", false, "Evaluate run id."),
              string("plan_id", false, "Evaluated plan (or quantized model id for quantization)."),
              string("method", false, "Planning method of the plan."),
              Column.added(
                  string(
                      "mode",
                      false,
                      "How the plan was run: prefill (the prefill simulation: one forward pass"
                          + " over each whole sample, every query attending to a masked view of the"
                          + " full cache; budget policies such as H2O re-select tokens per query,"
                          + " which is not their own eviction and has measured on both sides of it;"
                          + " also quantized models' full forward pass) or"
                          + " decode (the plan's decode graph, docs/decode.md: token by token, the"
                          + " caches keep only what the plan keeps)."),
                  "prefill"),
              bool(
                  "baseline",
                  false,
                  "True for the uniform StreamingLLM plan evaluated at the same KV fraction."),
              string("baseline_for", true, "For baseline rows: the plan they are the baseline of."),
              Column.added(
                  string(
                      AGAINST_UNIFORM,
                      false,
                      "The plan measured against its uniform baseline: `worse: ...` naming what"
                          + " measured worse (KL, repeat or passkey accuracy, cosine), else `not"
                          + " worse`; `baseline` on the baseline row; `not compared` without one"
                          + " (--no-baseline, quantized models). Planners rank their plans above"
                          + " the uniform rule by a cost model; this is where a measurement"
                          + " disagrees."),
                  "not recorded"),
              float64("kv_fraction_target", true, "The plan's requested KV fraction."),
              float64(
                  "kv_fraction", true, "KV fraction actually kept over the evaluated positions."),
              int32("n_samples", false, "Held-out samples evaluated."),
              int64("n_positions", false, "Positions the means run over."),
              float64(
                  "kl_mean",
                  true,
                  "Decoders: mean over valid positions of KL(dense || plan) of next-token distributions."),
              float64(
                  "top1_agreement",
                  true,
                  "Decoders: share of positions where plan and dense agree on the argmax."),
              float64(
                  "nll_delta",
                  true,
                  "Decoders: mean NLL(plan) - mean NLL(dense) of the actual next tokens."),
              float64(
                  "repeat_accuracy",
                  true,
                  "Decoders: next-token accuracy on repeat-probe positions only retrieval"
                      + " can predict (repeats 2..R)."),
              float64("dense_repeat_accuracy", true, "Same accuracy for the dense model."),
              float64(
                  "passkey_accuracy",
                  true,
                  "Decoders: next-token accuracy on the needle tokens of passkey answers."),
              float64("dense_passkey_accuracy", true, "Same accuracy for the dense model."),
              float64(
                  "cosine_mean",
                  true,
                  "Encoders: mean cosine similarity of final hidden states (valid tokens)."),
              timestamp("created_at", false, "When the evaluation ran (UTC).")),
          List.of("model_id"),
          List.of("model_id", "run_id", "plan_id"),
          "Plan fidelity against the dense model, next to the uniform baseline at the same KV fraction.");

  public static final TableContract PUBLISHED_PLANS =
      new TableContract(
          "published_plans",
          schema(
              string("model_id", false, MODEL_ID_DOC),
              string("plan_id", false, "Published plan."),
              string("method", false, "Planning method."),
              string("evaluation_run_id", false, "Evaluation that passed the gate."),
              string(
                  "gate",
                  false,
                  "JSON: thresholds and the measured values they were compared with."),
              string(
                  "artifact",
                  true,
                  "Path of the exported graph or engine-format directory, if any."),
              timestamp("published_at", false, "When the plan passed the gate (UTC).")),
          List.of("model_id"),
          List.of("model_id", "plan_id"),
          "Plans whose evaluation met the configured thresholds; what serving teams read.");

  /**
   * The column every table but {@code published_plans} carries after its contract columns: the id
   * of the step attempt that appended the row. Steps only append; a row is visible to readers when
   * its attempt has the newest {@code succeeded} runs row of its (model_id, run_id, step) and is
   * the newest such attempt for the table's key columns, so a failed or killed attempt's rows are
   * never read and a rerun supersedes the earlier one.
   */
  public static final Field ATTEMPT_ID =
      string(
          "attempt_id",
          false,
          "Step attempt that appended the row (UTC start"
              + " time and a random suffix); rows of attempts without a succeeded runs row are invisible to readers.");

  /** Modes of an evaluation ({@code evaluations.mode}). */
  public static final String MODE_PREFILL = "prefill";

  public static final String MODE_DECODE = "decode";

  /** Every table, in data-flow order. */
  public static final List<TableContract> ALL =
      List.of(
          RUNS,
          CALIBRATION_SAMPLES,
          HEAD_STATS,
          TOKEN_IMPORTANCE,
          ATTENTION_PLANS,
          QUANT_PLANS,
          EVALUATIONS,
          PUBLISHED_PLANS);

  private Tables() {}

  /**
   * Whether the table's rows carry {@link #ATTEMPT_ID} (every table but {@code published_plans},
   * which serving teams read directly and which a publish replaces in one Delta transaction).
   */
  public static boolean hasAttempts(TableContract t) {
    return t != PUBLISHED_PLANS;
  }

  private static Schema schema(Field... fields) {
    return new Schema(List.of(fields));
  }
}
