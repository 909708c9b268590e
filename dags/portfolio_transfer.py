"""Transfer a customer book from the seller's drop to the buyer's database (see DAG_DOC for the operator's page).

compliance_gate -> wait_for_drop -> extract -> map_rows[p] -> validate[p] -> validate_book -> protect[p] -> plan_load
-> plan_partition[p] -> load_or_dry_run -> approve_load -> load[p] -> verify[p] -> reconcile, where [p] is one task per
partition (param `partitions`; dynamic task mapping); a dry run goes from load_or_dry_run straight to reconcile.
Task bodies live in booktransfer.orchestration.tasks, the form in booktransfer.operations.form, the docs in
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


# One task instance per partition (dynamic task mapping over extract's list of partitions), each retried on its own.
@task(doc_md=TASK_DOCS["map_rows"])
def map_rows(part: dict) -> dict:
    return tasks.map_rows(*_params_and_run(), partition=part["partition"])


@task(doc_md=TASK_DOCS["validate"])
def validate(part: dict) -> dict:
    return tasks.validate(*_params_and_run(), partition=part["partition"])


@task(doc_md=TASK_DOCS["validate_book"])
def validate_book() -> dict:
    return tasks.validate_book(*_params_and_run())


@task(doc_md=TASK_DOCS["protect"])
def protect(part: dict) -> dict:
    return tasks.protect(*_params_and_run(), partition=part["partition"])


@task(doc_md=TASK_DOCS["plan_partition"], **io_retries())
def plan_partition(part: dict) -> dict:
    return tasks.plan_load(*_params_and_run(), partition=part["partition"])


@task(doc_md=TASK_DOCS["verify"], **io_retries())
def verify(part: dict) -> dict:
    return tasks.verify(*_params_and_run(), partition=part["partition"])


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
    def extract() -> list[dict]:
        return tasks.partition_list(tasks.extract(*_params_and_run()))  # what the stages map over

    @task(doc_md=TASK_DOCS["plan_load"], **io_retries())
    def plan_load() -> dict:
        return tasks.plan_load(*_params_and_run())

    @task.branch(doc_md=TASK_DOCS["load_or_dry_run"])
    def load_or_dry_run() -> str:
        return tasks.load_path(_params_and_run()[0], approve_task="approve_load", dry_run_task="reconcile")

    approve_load = LoadApproval(task_id="approve_load", doc_md=TASK_DOCS["approve_load"],
                                response_timeout=approval_timeout(), notifiers=[on_approval_needed()])

    @task(doc_md=TASK_DOCS["load"], **io_retries())
    def load(part: dict) -> dict:
        return tasks.load(*_params_and_run(), partition=part["partition"])

    @task(doc_md=TASK_DOCS["reconcile"], trigger_rule="none_failed_min_one_success", **io_retries())
    def reconcile() -> dict:
        return tasks.reconcile(*_params_and_run())

    parts = extract()
    path = load_or_dry_run()
    report = reconcile()
    compliance_gate() >> wait_for_drop() >> parts
    (map_rows.expand(part=parts) >> validate.expand(part=parts) >> validate_book()
     >> protect.expand(part=parts) >> plan_load() >> plan_partition.expand(part=parts) >> path)
    path >> approve_load >> load.expand(part=parts) >> verify.expand(part=parts) >> report
    path >> report


portfolio_transfer()
