"""
### Example consumer of headwise's published plans

Scheduled on the asset alias `headwise-published-plans`. The gate tasks (`per_method.publish`, `publish_quantized`)
of the headwise pipeline DAGs add to it, when they succeed, the asset `<warehouse URI>/published_plans` of the
warehouse their run used (e.g. `file:///data/headwise/warehouse/published_plans`), so this DAG runs after the gate
decided on new plans in any warehouse; `triggering_asset_events` names the warehouse and, in each event's extra, the
evaluation run the gate decided on (a plan can also have been held back: read `published_plans` for the decision).
A serving team that follows one warehouse schedules on that warehouse's asset instead,
`Asset("file:///data/headwise/warehouse/published_plans")`, and replaces `announce` with its own sync (copy the
artifact, update the engine's plan files, ...).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

try:  # Airflow 3
    from airflow.sdk import DAG, AssetAlias, task
except ImportError:  # Airflow 2.10+
    from airflow import DAG
    from airflow.datasets import DatasetAlias as AssetAlias
    from airflow.decorators import task

# Must equal headwise_pipeline.PUBLISHED_PLANS (checked by airflow-dags/tests).
PUBLISHED_PLANS = AssetAlias("headwise-published-plans")

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
        """Lists the warehouses and gated evaluation runs that updated published_plans."""
        events = context.get("triggering_asset_events") or context.get("triggering_dataset_events") or {}
        updates = []
        for asset, asset_events in events.items():
            for e in asset_events:
                extra = getattr(e, "extra", None) or {}
                updates.append(f"{getattr(asset, 'uri', asset)} {extra.get('evaluation_run_id', '?')}")
                print(f"published_plans updated: {updates[-1]} (DAG run"
                      f" {getattr(e, 'source_dag_id', '?')}/{getattr(e, 'source_run_id', '?')})")
        return updates

    announce()
