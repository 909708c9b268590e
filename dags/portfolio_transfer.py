"""Transfer a customer book from the seller's drop to the buyer's database (see DAG_DOC for the operator's page).

compliance_gate -> wait_for_drop -> extract -> map_rows -> validate -> protect -> plan_load -> load_or_dry_run
-> approve_load -> load -> reconcile; a dry run goes from load_or_dry_run straight to reconcile. Task bodies
live in booktransfer.orchestration.tasks, the form in booktransfer.operations.form, the docs in
booktransfer.operations.runbook; nothing heavy is imported when this file is parsed.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, get_current_context, task

from booktransfer.operations.runbook import DAG_DOC, TASK_DOCS
from booktransfer.orchestration import tasks
from booktransfer.orchestration.approval import LoadApproval
from booktransfer.orchestration.notify import on_approval_needed, on_failure
from booktransfer.orchestration.params import approval_timeout, drop_sensor_timing, io_retries, transfer_params


def _params_and_run() -> tuple[dict, str]:
    ctx = get_current_context()
    return dict(ctx["params"]), ctx["run_id"]


@dag(
    dag_id="portfolio_transfer",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params=transfer_params(),
    default_args={"owner": "booktransfer", "retries": 0, "on_failure_callback": on_failure()},
    tags=["book-transfer"],
    doc_md=DAG_DOC,
)
def portfolio_transfer() -> None:
    """Wire the stages, the two gates and the dry-run path."""

    @task(doc_md=TASK_DOCS["compliance_gate"])
    def compliance_gate() -> dict:
        ctx = get_current_context()
        moment = ctx.get("logical_date") or ctx["dag_run"].run_after
        return tasks.compliance_gate(dict(ctx["params"]), ctx["run_id"], moment)

    @task.sensor(mode="reschedule", doc_md=TASK_DOCS["wait_for_drop"], **drop_sensor_timing())
    def wait_for_drop() -> bool:
        return tasks.wait_for_drop(*_params_and_run())

    @task(doc_md=TASK_DOCS["extract"], **io_retries())
    def extract() -> dict:
        return tasks.extract(*_params_and_run())

    @task(doc_md=TASK_DOCS["map_rows"])
    def map_rows() -> dict:
        return tasks.map_rows(*_params_and_run())

    @task(doc_md=TASK_DOCS["validate"])
    def validate() -> dict:
        return tasks.validate(*_params_and_run())

    @task(doc_md=TASK_DOCS["protect"])
    def protect() -> dict:
        return tasks.protect(*_params_and_run())

    @task(doc_md=TASK_DOCS["plan_load"], **io_retries())
    def plan_load() -> dict:
        return tasks.plan_load(*_params_and_run())

    @task.branch(doc_md=TASK_DOCS["load_or_dry_run"])
    def load_or_dry_run() -> str:
        return tasks.load_path(_params_and_run()[0], approve_task="approve_load", dry_run_task="reconcile")

    approve_load = LoadApproval(task_id="approve_load", doc_md=TASK_DOCS["approve_load"],
                                response_timeout=approval_timeout(), notifiers=[on_approval_needed()])

    @task(doc_md=TASK_DOCS["load"], **io_retries())
    def load() -> dict:
        return tasks.load(*_params_and_run())

    @task(doc_md=TASK_DOCS["reconcile"], trigger_rule="none_failed_min_one_success", **io_retries())
    def reconcile() -> dict:
        return tasks.reconcile(*_params_and_run())

    path = load_or_dry_run()
    report = reconcile()
    compliance_gate() >> wait_for_drop() >> extract() >> map_rows() >> validate() >> protect() >> plan_load() >> path
    path >> approve_load >> load() >> report
    path >> report


portfolio_transfer()
