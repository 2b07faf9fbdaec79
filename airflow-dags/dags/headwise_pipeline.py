"""
### headwise: profile, plan, export, evaluate and publish per-head KV-cache and quantization plans

One DAG per model family. Every step is a `spark-submit` of the headwise jobs jar
(`jobs/target/headwise-jobs.jar`, main class `io.headwise.jobs.<Step>Job`) whose arguments are exactly the options
of the matching `headwise <step>` subcommand:

```
calibrate ─┬─ profile ─── per_method[m]: plan ── export ── evaluate ── publish ───┬─ report (all_done)
           └─ quantize_enabled ── quantize ── publish_quantized ──────────────────┘
calibrate_heldout ── per_method.evaluate, quantize_enabled
methods ── per_method (one group instance per entry of params.methods)
every task except quantize_enabled ── failure_watcher (one_failed)
```

* `per_method` is a mapped task group: instance i holds the chain `ids` → `plan` → `export` → `evaluate` →
  `publish` of `params.methods[i]`. Inside a mapped group each task instance depends only on the instances of the
  same index, so a method whose plan (or export, evaluate, gate) fails stops only its own chain; the other methods'
  chains run on.
* `report` has trigger rule `all_done`: it runs once every chain and the quantize branch have finished, whatever
  their outcome, and reports what they wrote. Because a run's state comes from its leaf tasks and a successful
  `all_done` leaf would mark the run successful, `failure_watcher` (trigger rule `one_failed`, downstream of every
  task but the short-circuit) fails the run whenever any task failed.
* The headwise run id is derived from the DAG run (`{{ dag_run | run_key }}`): a retried task gets the same id and
  its step replaces that run's rows (every step is idempotent per run id), it never adds a second copy.
* `publish` is the gate: a plan whose evaluation misses the thresholds (`gate_*` params) is held back; plans that
  pass land in the `published_plans` table. On success every gate task adds the asset
  `<warehouse URI>/published_plans` of the warehouse the run used (`params.warehouse`) to the asset alias
  `headwise-published-plans`: consumers schedule on the alias (any warehouse) or on one warehouse's asset.
* `quantize` runs only when `params.quantize` is true; `report` runs either way.

Templated arguments and conf entries that render to an empty string are left out (optional flags). Nothing is
read at import time; paths in params must be visible to the Spark driver and executors (shared filesystem), or
use `ship_model` to send the model and its external-data files with the job.
"""

from __future__ import annotations

import posixpath
import re
from datetime import datetime, timedelta, timezone

try:  # Airflow 3
    from airflow.sdk import DAG, Asset, AssetAlias, Param, task, task_group
except ImportError:  # Airflow 2.10+
    from airflow import DAG
    from airflow.datasets import Dataset as Asset
    from airflow.decorators import task, task_group
    from airflow.models.param import Param

    try:
        from airflow.datasets import DatasetAlias as AssetAlias
    except ImportError as e:  # Airflow 2.9: no alias, and a static asset would name the wrong warehouse
        raise ImportError("the headwise DAGs need Airflow 3, or Airflow 2.10+ (DatasetAlias): the gate signals the"
                          " published_plans asset of the warehouse each run uses") from e

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

# The jobs jar on the Airflow workers (spark-submit ships it to the cluster): Airflow Variable headwise_jobs_jar,
# read when a task renders, not at import time.
JOBS_JAR = "{{ var.value.get('headwise_jobs_jar', '/opt/headwise/headwise-jobs.jar') }}"
# The default warehouse (params.warehouse; a run may use another).
WAREHOUSE = "/data/headwise/warehouse"
# The gate tasks' outlet. The warehouse is a run param, so no asset can be declared statically: at run time each
# gate task adds Asset(published_plans_uri(<the warehouse it wrote to>)) to this alias (Airflow's AssetAlias, "Dynamic
# data events emitting and asset creation through AssetAlias"). Consumers schedule on the alias, or on the concrete
# asset of one warehouse.
PUBLISHED_PLANS = AssetAlias("headwise-published-plans")
# A warehouse param is an absolute path or a URI (s3a://, hdfs://, file://, ...): the Spark nodes and the asset URI
# must mean the same place, which a relative path does not.
WAREHOUSE_PATTERN = r"^(/|[A-Za-z][A-Za-z0-9+.-]*://)"

METHODS = ["dense", "streamingllm", "h2o", "moa", "duo", "razor", "ems"]
PROBES = ["repeat", "passkey", "self"]
QUANT_METHODS = ["rtn", "gptq", "rsq"]

DEFAULT_ARGS = {
    "owner": "headwise",
    # parallel per-method steps of one model commit to the same Delta partition; an overlapping commit is refused
    # (ConcurrentAppendException) and rolled back, and the retry goes through
    "retries": 3,
    "retry_delay": timedelta(minutes=2),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=30),
    "execution_timeout": timedelta(hours=12),
}


def published_plans_uri(warehouse: str) -> str:
    """The asset URI of a warehouse's published_plans table: <warehouse URI>/published_plans, where an absolute path
    becomes a file:// URI."""
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", warehouse):
        return warehouse.rstrip("/") + "/published_plans"
    if warehouse.startswith("/"):
        return "file://" + posixpath.normpath(warehouse) + "/published_plans"
    raise ValueError(f"warehouse {warehouse!r} is neither an absolute path nor a URI")


def run_key(dag_run) -> str:
    """The headwise run id of a DAG run (dag id and run id, safe in paths and table predicates); the same for every
    try of every task of that run."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", f"{dag_run.dag_id}__{dag_run.run_id}").strip("_.")


def threshold(default, description: str) -> tuple:
    """A gate threshold param: a number, or "off"."""
    return default, {"type": ["number", "string"], "pattern": "^off$", "description": description}


# name -> (default, JSON schema) of every param; a family overrides defaults, a run overrides anything.
PARAMS = {
    "model": ("default", {"type": "string", "description": "ONNX model path on a filesystem every Spark node sees,"
                                                            " or 'default' (the embedded MiniLM)."}),
    "ship_model": (False, {"type": "boolean", "description": "Send the model and its external-data files to"
                                                             " executors with SparkContext.addFile."}),
    "warehouse": (WAREHOUSE, {"type": "string", "pattern": WAREHOUSE_PATTERN,
                              "description": "Warehouse root (one Delta table per folder): an absolute path or a"
                                             " URI; the gate signals <warehouse>/published_plans."}),
    "artifacts": ("/data/headwise/artifacts", {"type": "string", "description": "Calibration files, exported"
                  " graphs, quantized models and reports go to <artifacts>/<run id>/."}),
    "calibration_text": ("", {"type": "string", "description": "Text to calibrate on: one document per line, or a"
                              " Parquet/Delta table with a 'text' column ('' = probes only)."}),
    "heldout_text": ("", {"type": "string", "description": "Held-out text for evaluation ('' = probes only)."}),
    "tokenizer": ("", {"type": "string", "description": "tokenizer.json of the text ('' = next to the model)."}),
    "probes": (["repeat", "passkey"], {"type": "array", "items": {"enum": PROBES},
                                       "description": "Probe kinds of the calibration and held-out samples."}),
    "probe_count": (8, {"type": "integer", "minimum": 1, "description": "Samples per probe kind."}),
    "probe_length": (256, {"type": "integer", "minimum": 8, "description": "Tokens per probe."}),
    "max_length": (256, {"type": "integer", "minimum": 8, "description": "Tokens per text chunk."}),
    "seed": (0, {"type": "integer", "description": "Seed of the calibration samples (held-out: seed + 1)."}),
    "methods": (["duo", "razor"], {"type": "array", "minItems": 1, "uniqueItems": True, "items": {"enum": METHODS},
                                   "description": "KV-cache planners: one plan, export, evaluation and gate each."}),
    "kv_fraction": (0.5, {"type": "number", "exclusiveMinimum": 0, "maximum": 1,
                          "description": "Share of the KV cache the plans keep (dense plans keep 1.0)."}),
    "lengths": ([256], {"type": "array", "minItems": 1, "items": {"type": "integer"},
                        "description": "Sequence lengths the plans are sized for."}),
    "ep": ("cpu", {"type": "string", "description": "ONNX Runtime execution provider: cpu, cuda[:N] or auto."}),
    "executor_memory": ("4g", {"type": "string", "description": "spark.executor.memory"}),
    "driver_memory": ("4g", {"type": "string", "description": "spark.driver.memory"}),
    "executor_gpus": (0, {"type": "integer", "minimum": 0, "description": "GPUs per executor"
                          " (spark.executor.resource.gpu.amount); 0 = no GPU scheduling."}),
    "task_gpus": (1, {"type": "number", "exclusiveMinimum": 0, "description": "GPUs per task"
                      " (spark.task.resource.gpu.amount), used when executor_gpus > 0."}),
    "gpu_discovery_script": ("/opt/spark/scripts/getGpusResources.sh", {"type": "string", "description":
                             "spark.executor.resource.gpu.discoveryScript, used when executor_gpus > 0."}),
    "quantize": (True, {"type": "boolean", "description": "Run the quantization branch."}),
    "quant_method": ("rsq", {"type": "string", "enum": QUANT_METHODS}),
    "quant_bits": (4, {"type": "integer", "enum": [3, 4, 8]}),
    "quant_group": (32, {"type": "integer", "minimum": 8}),
    "quant_rotate": (False, {"type": "boolean", "description": "Rotate (RSQ/QuaRot) before quantizing."}),
    "gate_max_kl_ratio": threshold(1.0, "KV plans: KL / KL of the uniform baseline at the same KV fraction, at"
                                        " most this."),
    "gate_max_kl": threshold("off", "KV plans: KL to the dense model, at most this."),
    "gate_min_top1": threshold("off", "KV plans: top-1 agreement with the dense model, at least this."),
    "gate_min_repeat_retention": threshold(0.9, "Repeat-probe accuracy / dense accuracy, at least this."),
    "gate_min_passkey_retention": threshold(0.9, "Passkey accuracy / dense accuracy, at least this."),
    "gate_min_cosine": threshold(0.99, "Encoders: cosine of final hidden states, at least this."),
    "gate_quant_max_kl": threshold(0.05, "Quantized model: KL to the original, at most this."),
    "gate_quant_min_top1": threshold(0.9, "Quantized model: top-1 agreement with the original, at least this."),
}


def pipeline_params(family: dict) -> dict:
    """The params of a family's DAG."""
    unknown = set(family) - set(PARAMS)
    if unknown:
        raise ValueError(f"unknown params in a family's defaults: {sorted(unknown)}")
    return {name: Param(family.get(name, default), **schema) for name, (default, schema) in PARAMS.items()}


# Model families: dag id -> param defaults that differ from pipeline_params (everything can still be set per run).
FAMILIES = {
    "headwise_pipeline": {},
    "headwise_stories260k": {
        "model": "/data/models/stories260k/stories260k.onnx",
        "probe_count": 4,
        "probe_length": 128,
        "lengths": [128],
    },
}

# Template fragments shared by the steps.
RUN = "{{ dag_run | run_key }}"
WORK = "{{ params.artifacts }}/" + RUN
CALIBRATION = WORK + "/calibration.jsonl"
HELDOUT = WORK + "/heldout.jsonl"
QUANT_RUN = "{{ params.quant_method }}{{ params.quant_bits }}-" + RUN
QUANT_GRAPH = WORK + "/" + QUANT_RUN + ".onnx"
CALIBRATE = "io.headwise.jobs.CalibrateJob"

SPARK_CONF = {
    "spark.executor.memory": "{{ params.executor_memory }}",
    "spark.driver.memory": "{{ params.driver_memory }}",
    # headwise tables are small: Delta's default of 50 partitions to rebuild a table snapshot is mostly task overhead
    "spark.databricks.delta.snapshotPartitions": "4",
}
# Steps that run ONNX Runtime on executors: GPU scheduling when params.executor_gpus > 0 (each task then reads its
# device from TaskContext resources "gpu").
ORT_CONF = {
    **SPARK_CONF,
    "spark.executor.resource.gpu.amount": "{{ params.executor_gpus or '' }}",
    "spark.task.resource.gpu.amount": "{{ params.task_gpus if params.executor_gpus else '' }}",
    "spark.executor.resource.gpu.discoveryScript": "{{ params.gpu_discovery_script if params.executor_gpus else '' }}",
}


def optional(flag: str, param: str) -> list[str]:
    """A flag and its value, both rendered empty (so left out) when the param is empty."""
    return ["{{ '%s' if params.%s else '' }}" % (flag, param), "{{ params.%s }}" % param]


def switch(flag: str, param: str) -> list[str]:
    """A boolean flag, present when the param is true."""
    return ["{{ '%s' if params.%s else '' }}" % (flag, param)]


class HeadwiseSparkSubmitOperator(SparkSubmitOperator):
    """spark-submit of a headwise step: application arguments and conf entries that render to '' are left out."""

    def execute(self, context):
        self.application_args = [a for a in (self.application_args or []) if str(a) != ""]
        self.conf = {k: v for k, v in (self.conf or {}).items() if str(v) != ""}
        return super().execute(context)


class PublishSparkSubmitOperator(HeadwiseSparkSubmitOperator):
    """A gate step (PublishJob). When its spark-submit succeeds it adds the published_plans asset of the warehouse it
    wrote to (its rendered --warehouse argument) to the PUBLISHED_PLANS alias, the gated evaluation run id (its
    --run-id) as the event's extra; a failed step signals nothing."""

    def __init__(self, **kwargs):
        super().__init__(outlets=[PUBLISHED_PLANS], **kwargs)

    def execute(self, context):
        args = [str(a) for a in self.application_args]
        uri = published_plans_uri(args[args.index("--warehouse") + 1])  # before submitting: a bad path fails early
        result = super().execute(context)
        context["outlet_events"][PUBLISHED_PLANS].add(
            Asset(uri=uri), extra={"evaluation_run_id": args[args.index("--run-id") + 1]})
        return result


def calibrate_step(task_id: str, label: str, text_param: str, seed: str, out: str) -> HeadwiseSparkSubmitOperator:
    """A calibrate step: calibration samples ("calibrate") or held-out samples ("calibrate_heldout") differ only
    in their task id, text param, seed and output."""
    return HeadwiseSparkSubmitOperator(
        task_id=task_id,
        name=f"headwise {label} " + RUN,
        application=JOBS_JAR,
        java_class=CALIBRATE,
        application_args=[
            "--model", "{{ params.model }}",
            *optional("--text", text_param),
            *optional("--tokenizer", "tokenizer"),
            "{{ '--probes' if params.probes else '' }}", "{{ params.probes | join(',') }}",
            "--count", "{{ params.probe_count }}",
            "--probe-length", "{{ params.probe_length }}",
            "--max-length", "{{ params.max_length }}",
            "--seed", seed,
            "--out", out,
        ],
        conf=SPARK_CONF,
    )


def gate_args() -> list[str]:
    """Thresholds of the KV-plan gate."""
    return [
        "--max-kl-ratio", "{{ params.gate_max_kl_ratio }}",
        "--max-kl", "{{ params.gate_max_kl }}",
        "--min-top1", "{{ params.gate_min_top1 }}",
        "--min-repeat-retention", "{{ params.gate_min_repeat_retention }}",
        "--min-passkey-retention", "{{ params.gate_min_passkey_retention }}",
        "--min-cosine", "{{ params.gate_min_cosine }}",
    ]


def build_pipeline(dag_id: str, family: dict) -> DAG:
    """The DAG of one model family."""
    with DAG(
        dag_id=dag_id,
        description="headwise: calibrate, profile, plan, export, evaluate, publish (and quantize) one model",
        schedule=None,
        start_date=datetime(2025, 1, 1, tzinfo=timezone.utc),
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        params=pipeline_params(family),
        user_defined_filters={"run_key": run_key},
        doc_md=__doc__,
        tags=["headwise"],
    ) as dag:

        @task
        def methods(params=None) -> list[str]:
            """The methods of this run, in params order: per_method expands over this list (instance i runs
            methods[i])."""
            chosen = list(params["methods"])
            unknown = [m for m in chosen if m not in METHODS]
            if not chosen or unknown or len(set(chosen)) != len(chosen):
                raise ValueError(f"params.methods must be distinct entries of {METHODS}, got {chosen}")
            return chosen

        @task(multiple_outputs=True)
        def ids(method: str, params=None, dag_run=None) -> dict:
            """The per-method values of one chain: method, KV fraction (dense keeps 1.0), plan id, exported graph
            and Spark application names. The group's argument is resolved here, in a TaskFlow task, and reaches the
            spark-submit steps as XCom references in their template fields (a classic operator given a mapped group
            argument directly may see an unresolved MappedArgument, apache/airflow#50631)."""
            key = run_key(dag_run)
            plan_id = f"{method}-{key}"
            return {
                "method": method,
                "kv_fraction": "1.0" if method == "dense" else str(params["kv_fraction"]),
                "plan_id": plan_id,
                "graph": f"{params['artifacts']}/{key}/{plan_id}.onnx",
                **{f"{step}_name": f"headwise {step} {method} {key}" for step in ("plan", "export", "evaluate",
                                                                                  "publish")},
            }

        @task.short_circuit(ignore_downstream_trigger_rules=False)
        def quantize_enabled(params=None) -> bool:
            """The quantization branch runs only when params.quantize is true."""
            return bool(params["quantize"])

        @task(trigger_rule="one_failed", retries=0)
        def failure_watcher():
            """Fails the DAG run when any task failed. A run's state comes from its leaf tasks, and report runs
            with trigger rule all_done: without this task a run in which one method's chain failed would end
            successful."""
            raise RuntimeError("a task of this DAG run failed (see the failed task instances); failing the run")

        calibrate = calibrate_step("calibrate", "calibrate", "calibration_text", "{{ params.seed }}", CALIBRATION)
        calibrate_heldout = calibrate_step("calibrate_heldout", "calibrate held-out", "heldout_text",
                                           "{{ params.seed + 1 }}", HELDOUT)
        profile = HeadwiseSparkSubmitOperator(
            task_id="profile",
            name="headwise profile " + RUN,
            application=JOBS_JAR,
            java_class="io.headwise.jobs.ProfileJob",
            application_args=[
                "--model", "{{ params.model }}",
                "--calibration", CALIBRATION,
                "--run-id", RUN,
                "--warehouse", "{{ params.warehouse }}",
                "--ep", "{{ params.ep }}",
                *switch("--ship-model", "ship_model"),
            ],
            conf=ORT_CONF,
        )

        @task_group
        def per_method(method):
            """plan, export, evaluate and publish of one KV-cache method (one group instance per method)."""
            chain = ids(method)
            plan = HeadwiseSparkSubmitOperator(
                task_id="plan",
                name=chain["plan_name"],
                application=JOBS_JAR,
                java_class="io.headwise.jobs.PlanJob",
                application_args=[
                    "--method", chain["method"],
                    "--stats-run", RUN,
                    "--kv-fraction", chain["kv_fraction"],
                    "--length", "{{ params.lengths | join(',') }}",
                    "--plan-id", chain["plan_id"],
                    "--model", "{{ params.model }}",
                    "--warehouse", "{{ params.warehouse }}",
                ],
                conf=SPARK_CONF,
            )
            export = HeadwiseSparkSubmitOperator(
                task_id="export",
                name=chain["export_name"],
                application=JOBS_JAR,
                java_class="io.headwise.jobs.ExportJob",
                application_args=[
                    "--model", "{{ params.model }}",
                    "--plan-id", chain["plan_id"],
                    "--out", chain["graph"],
                    "--warehouse", "{{ params.warehouse }}",
                ],
                conf=SPARK_CONF,
            )
            evaluate = HeadwiseSparkSubmitOperator(
                task_id="evaluate",
                name=chain["evaluate_name"],
                application=JOBS_JAR,
                java_class="io.headwise.jobs.EvaluateJob",
                application_args=[
                    "--model", "{{ params.model }}",
                    "--plan-id", chain["plan_id"],
                    "--samples", HELDOUT,
                    "--run-id", chain["plan_id"],
                    "--ep", "{{ params.ep }}",
                    "--warehouse", "{{ params.warehouse }}",
                ],
                conf=ORT_CONF,
            )
            publish = PublishSparkSubmitOperator(
                task_id="publish",
                name=chain["publish_name"],
                application=JOBS_JAR,
                java_class="io.headwise.jobs.PublishJob",
                application_args=[
                    "--run-id", chain["plan_id"],
                    "--plan-id", chain["plan_id"],
                    "--artifact", chain["graph"],
                    *gate_args(),
                    "--warehouse", "{{ params.warehouse }}",
                ],
                conf=SPARK_CONF,
            )
            profile >> plan >> export >> evaluate >> publish
            calibrate_heldout >> evaluate

        quantize = HeadwiseSparkSubmitOperator(
            task_id="quantize",
            name="headwise quantize " + RUN,
            application=JOBS_JAR,
            java_class="io.headwise.jobs.quantize.QuantizeJob",
            application_args=[
                "--model", "{{ params.model }}",
                "--calibration", CALIBRATION,
                "--run-id", QUANT_RUN,
                "--method", "{{ params.quant_method }}",
                "--bits", "{{ params.quant_bits }}",
                "--group", "{{ params.quant_group }}",
                *switch("--rotate", "quant_rotate"),
                "--out", QUANT_GRAPH,
                "--eval-samples", HELDOUT,
                "--ep", "{{ params.ep }}",
                "--warehouse", "{{ params.warehouse }}",
                *switch("--ship-model", "ship_model"),
            ],
            conf=ORT_CONF,
        )
        publish_quantized = PublishSparkSubmitOperator(
            task_id="publish_quantized",
            name="headwise publish quantized " + RUN,
            application=JOBS_JAR,
            java_class="io.headwise.jobs.PublishJob",
            application_args=[
                "--run-id", QUANT_RUN,
                "--artifact", QUANT_GRAPH,
                "--max-kl-ratio", "off",
                "--max-kl", "{{ params.gate_quant_max_kl }}",
                "--min-top1", "{{ params.gate_quant_min_top1 }}",
                "--min-cosine", "{{ params.gate_min_cosine }}",
                "--warehouse", "{{ params.warehouse }}",
            ],
            conf=SPARK_CONF,
        )
        report = HeadwiseSparkSubmitOperator(
            task_id="report",
            name="headwise report " + RUN,
            application=JOBS_JAR,
            java_class="io.headwise.jobs.ReportJob",
            application_args=[
                "--model", "{{ params.model }}",
                "--stats-run", RUN,
                "--warehouse", "{{ params.warehouse }}",
                "--out", WORK + "/report.html",
            ],
            conf=SPARK_CONF,
            # after every chain and the quantize branch, whatever their outcome: a failed method only misses its
            # rows in the report (none_failed would hold the report back for any failed method)
            trigger_rule="all_done",
        )

        calibrate >> profile
        per_method.expand(method=methods()) >> report
        [calibrate, calibrate_heldout] >> quantize_enabled() >> quantize >> publish_quantized >> report
        watcher = failure_watcher()
        # not downstream of the short-circuit: it skips its direct downstream tasks when quantize is off
        [t for t in dag.tasks if t.task_id not in ("quantize_enabled", "failure_watcher")] >> watcher
    return dag


for _dag_id, _family in FAMILIES.items():
    globals()[_dag_id] = build_pipeline(_dag_id, _family)
