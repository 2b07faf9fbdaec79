"""
### Example consumer of headwise's published plans

Scheduled on the `published_plans` asset that the gate tasks of the headwise pipeline DAGs update: it runs after
every DAG run whose `publish` or `publish_quantized` task succeeded, i.e. after the gate decided on new plans (a
plan can also have been held back; read `published_plans` for the decisions of that evaluation run). A serving team
replaces `announce` with its own sync (copy the artifact, update the engine's plan files, ...).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

try:  # Airflow 3
    from airflow.sdk import DAG, Asset, task
except ImportError:  # Airflow 2.9+
    from airflow import DAG
    from airflow.datasets import Dataset as Asset
    from airflow.decorators import task

# Must equal headwise_pipeline.PUBLISHED_PLANS (checked by airflow-dags/tests).
PUBLISHED_PLANS = Asset("file:///data/headwise/warehouse/published_plans")

with DAG(
    dag_id="headwise_published_plans_example",
    description="Runs when the headwise gate has published plans",
    schedule=[PUBLISHED_PLANS],
    start_date=datetime(2025, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    default_args={"owner": "serving", "retries": 2, "retry_delay": timedelta(minutes=1),
                  "retry_exponential_backoff": True, "max_retry_delay": timedelta(minutes=10)},
    doc_md=__doc__,
    tags=["headwise"],
):

    @task
    def announce(**context) -> list[str]:
        """Lists the DAG runs whose gate updated published_plans."""
        events = context.get("triggering_asset_events") or context.get("triggering_dataset_events") or {}
        runs = []
        for asset, asset_events in events.items():
            for e in asset_events:
                runs.append(f"{getattr(e, 'source_dag_id', '?')}/{getattr(e, 'source_run_id', '?')}")
                print(f"published_plans ({asset}) updated by {runs[-1]}")
        return runs

    announce()
