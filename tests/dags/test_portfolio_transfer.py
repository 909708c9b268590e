"""The portfolio_transfer DAG as Airflow loads it: no import errors, the expected graph, gates, retries, docs."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


@pytest.fixture(scope="module")
def dag(dagbag):
    return dagbag.dags["portfolio_transfer"]


def test_dags_import_without_errors(dagbag):
    """Every DAG file imports cleanly."""
    assert dagbag.import_errors == {}


def test_dag_id_matches_file_and_is_tagged(dag):
    """One DAG per file, named after it, tagged and owned."""
    assert Path(dag.fileloc).stem == dag.dag_id
    assert "book-transfer" in dag.tags
    assert all(t.owner == "booktransfer" for t in dag.tasks)


def test_stages_run_in_order_between_the_two_gates(dag):
    """The compliance gate before anything is fetched; the approval between the load plan and the load; a dry
    run branches from the plan straight to the report."""
    mapped = {"map_rows", "validate", "protect", "plan_partition", "load", "verify"}  # each reads extract's list
    expected = {"compliance_gate": {"wait_for_drop"}, "wait_for_drop": {"extract"}, "extract": mapped,
                "map_rows": {"validate"}, "validate": {"validate_book"}, "validate_book": {"protect"},
                "protect": {"plan_load"}, "plan_load": {"plan_partition"}, "plan_partition": {"load_or_dry_run"},
                "load_or_dry_run": {"approve_load", "reconcile"}, "approve_load": {"load"}, "load": {"verify"},
                "verify": {"reconcile"},
                "reconcile": set()}
    assert {t.task_id: set(t.downstream_task_ids) for t in dag.tasks} == expected


def test_every_stage_after_extract_runs_one_task_instance_per_partition(dag):
    """map_rows, validate, protect, plan_partition, load and verify are mapped over the partitions extract lists
    (each partition its own task instance, retried on its own); the book-level steps between them are not."""
    from airflow.sdk.definitions.mappedoperator import MappedOperator

    mapped = {t.task_id for t in dag.tasks if isinstance(t, MappedOperator)}
    assert mapped == {"map_rows", "validate", "protect", "plan_partition", "load", "verify"}
    for task_id in mapped:
        arg = dag.get_task(task_id).op_kwargs_expand_input.value["part"]
        assert arg.operator.task_id == "extract", task_id


def test_extract_lists_one_item_per_partition():
    """What the mapped tasks expand over: one item per partition of the run."""
    from booktransfer.orchestration.tasks import partition_list

    assert partition_list({"partitions": [0, 1, 2]}) == [{"partition": p, "of": 3} for p in range(3)]


def test_the_report_runs_when_a_dry_run_skips_the_load_but_not_after_a_failure(dag):
    """reconcile runs with load skipped (dry run), and never after a failed or rejected upstream."""
    assert dag.get_task("reconcile").trigger_rule == "none_failed_min_one_success"
    assert dag.get_task("load").trigger_rule == "all_success"


def test_the_approval_gate_is_a_human_in_the_loop_approval_that_fails_on_reject(dag):
    """Airflow's ApprovalOperator; reject fails the run (nothing loads); no answer never approves."""
    from airflow.providers.standard.operators.hitl import ApprovalOperator

    gate = dag.get_task("approve_load")
    assert isinstance(gate, ApprovalOperator)
    assert gate.options == ["Approve", "Reject"] and gate.fail_on_reject is True
    assert gate.defaults is None
    assert timedelta(hours=1) <= gate.response_timeout <= timedelta(days=7)
    assert gate.notifiers, "the approval announces itself through the alert notifier"
    assert gate.retries == 0


def test_drop_sensor_frees_its_worker_slot_and_gives_up(dag):
    """wait_for_drop is a sensor in reschedule mode with a finite timeout, so a missing drop ends the run."""
    sensor = dag.get_task("wait_for_drop")
    assert sensor.mode == "reschedule"
    assert 0 < sensor.poke_interval <= 300
    assert 0 < sensor.timeout <= 24 * 60 * 60
    assert not sensor.soft_fail


def test_io_tasks_retry_with_exponential_backoff_and_the_rest_fail_at_once(dag):
    """extract (drop server) and plan_load, plan_partition, load, reconcile (buyer database) retry with growing
    delays."""
    retrying = {t.task_id: t for t in dag.tasks if t.retries}
    assert set(retrying) == {"extract", "plan_load", "plan_partition", "load", "verify", "reconcile"}
    for task in retrying.values():
        assert task.retries >= 2 and task.retry_exponential_backoff >= 2
        assert timedelta(0) < task.retry_delay < task.max_retry_delay <= timedelta(hours=1)


def test_every_task_alerts_on_failure(dag):
    """Each task's failure callback is the alert notifier."""
    from booktransfer.orchestration.notify import TransferAlert

    for task in dag.tasks:
        callbacks = task.on_failure_callback if isinstance(task.on_failure_callback, list) \
            else [task.on_failure_callback]
        assert any(isinstance(c, TransferAlert) for c in callbacks), task.task_id


def test_the_dag_and_every_task_document_what_to_do(dag):
    """doc_md on the DAG and each task; every task that can fail says what to do when it does."""
    assert "Running a transfer" in dag.doc_md and "approve_load" in dag.doc_md
    for task in dag.tasks:
        assert task.doc_md and len(task.doc_md) > 80, task.task_id
        if task.task_id != "load_or_dry_run":
            assert "**When it fails**" in task.doc_md, task.task_id


def test_dry_run_choice(dag):
    """The branch goes to the report on a dry run and to the approval otherwise."""
    from booktransfer.orchestration.tasks import load_path

    assert load_path({"dry_run": True}, "approve_load", "reconcile") == "reconcile"
    assert load_path({"dry_run": False}, "approve_load", "reconcile") == "approve_load"
