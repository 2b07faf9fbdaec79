"""Prints, as JSON, the spark-submit command lines one run of a headwise DAG submits, in execution order.

    python3 airflow-dags/tests/render_commands.py --dag-id headwise_stories260k --conf conf.json \
        --run-id manual__2025-01-01T00:00:00+00:00 --master 'local[2]' --jobs-jar jobs/target/headwise-jobs.jar

The DAG file is imported against stub airflow modules and the run is simulated (harness.simulate): params from the
run conf, templates rendered, mapped steps expanded, skipped branches left out, each SparkSubmitOperator's command
line built as the provider's hook builds it. --master stands for the Spark connection (spark_default) and
--jobs-jar for the Airflow Variable headwise_jobs_jar; nothing else is substituted. The JSON also holds every task
instance's state, the run's state and the asset events the run emits when every step succeeds; the exit code is 1
when a task of the simulated run failed (a TaskFlow task raised), since the command list would then be incomplete.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import harness  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dag-file", default=str(HERE.parent / "dags" / "headwise_pipeline.py"))
    p.add_argument("--dag-id", required=True)
    p.add_argument("--conf", help="run conf: a JSON object, or @FILE")
    p.add_argument("--run-id", default="manual__2025-01-01T00:00:00+00:00")
    p.add_argument("--master", default="local[2]", help="master of the spark_default connection")
    p.add_argument("--jobs-jar", help="value of the Airflow Variable headwise_jobs_jar")
    a = p.parse_args()
    conf = {}
    if a.conf:
        text = Path(a.conf[1:]).read_text(encoding="utf-8") if a.conf.startswith("@") else a.conf
        conf = json.loads(text)
    dags = {d.dag_id: d for d in harness.load_dags(a.dag_file)}
    if a.dag_id not in dags:
        print(f"no DAG {a.dag_id} in {a.dag_file} (DAGs: {sorted(dags)})", file=sys.stderr)
        return 2
    variables = {"headwise_jobs_jar": a.jobs_jar} if a.jobs_jar else {}
    subs = harness.simulate(dags[a.dag_id], conf, run_id=a.run_id, variables=variables,
                            connection={"master": a.master, "spark_binary": "spark-submit"})
    dag = dags[a.dag_id]
    json.dump({"dag_id": a.dag_id, "run_id": a.run_id, "states": dag.last_states, "run_state": dag.last_run_state,
               "asset_events": [{"uri": e.uri, "alias": e.alias, "extra": e.extra, "task_id": e.task_id,
                                 "map_index": e.map_index} for e in dag.last_asset_events],
               "submissions": [{"task_id": s.task_id, "map_index": s.map_index, "java_class": s.java_class,
                                "argv": s.argv} for s in subs]}, sys.stdout, indent=1)
    print()
    if dag.last_run_state != "success":
        print(f"the simulated run of {a.dag_id} failed: {dag.last_errors}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
