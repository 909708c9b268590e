"""Transfer a customer book from the seller's drop to the buyer's database.

**wait_for_drop** waits for the seller's control file, which marks the drop complete, in the local
folder or on the SFTP server (an Airflow SFTP connection with a pinned host key; any other host key fails
the run and is recorded as a security event). **extract** lands the seller's files and checks them against
the control file (a missing file, a row count or SHA-256 mismatch, or an unclassified column stops the
run). **map** applies the YAML mapping set to reach the buyer's shape; rows it cannot translate are
quarantined. **validate** runs the buyer schema's Great Expectations suites and reference checks; failing
rows are quarantined with rule id and reason. **protect** tokenizes ID numbers and encrypts names, mobiles
and addresses. **load** writes the buyer tables, one transaction per entity (skipped on a dry run).
**reconcile** proves, per entity, that source rows = loaded + quarantined, and writes
`reports/<transfer_id>/<run_id>/`.

Re-running is safe: every stage writes under the run's own staging folder, and a load replaces what the
same transfer id loaded before.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, get_current_context, task

from booktransfer.orchestration import tasks
from booktransfer.orchestration.params import drop_sensor_timing, transfer_params


def _params_and_run() -> tuple[dict, str]:
    ctx = get_current_context()
    return dict(ctx["params"]), ctx["run_id"]


@dag(
    dag_id="portfolio_transfer",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params=transfer_params(),
    default_args={"owner": "booktransfer", "retries": 0},
    tags=["book-transfer"],
    doc_md=__doc__,
)
def portfolio_transfer() -> None:
    """wait_for_drop -> extract -> map -> validate -> protect -> load -> reconcile."""

    @task.sensor(mode="reschedule", **drop_sensor_timing())
    def wait_for_drop() -> bool:
        return tasks.wait_for_drop(*_params_and_run())

    @task(retries=2, retry_delay=pendulum.duration(seconds=30))
    def extract() -> dict:
        return tasks.extract(*_params_and_run())

    @task
    def map_rows(_upstream: dict) -> dict:
        return tasks.map_rows(*_params_and_run())

    @task
    def validate(_upstream: dict) -> dict:
        return tasks.validate(*_params_and_run())

    @task
    def protect(_upstream: dict) -> dict:
        return tasks.protect(*_params_and_run())

    @task(retries=2, retry_delay=pendulum.duration(seconds=30))
    def load(_upstream: dict) -> dict:
        return tasks.load(*_params_and_run())

    @task
    def reconcile(_upstream: dict) -> dict:
        return tasks.reconcile(*_params_and_run())

    raw = extract()
    wait_for_drop() >> raw
    reconcile(load(protect(validate(map_rows(raw)))))


portfolio_transfer()
