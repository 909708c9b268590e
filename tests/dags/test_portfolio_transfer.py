"""The portfolio_transfer DAG as Airflow loads it: no import errors, the expected graph, a usable form."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


def test_dags_import_without_errors(dagbag):
    """Every DAG file imports cleanly."""
    assert dagbag.import_errors == {}


def test_dag_id_matches_file_and_is_tagged(dagbag):
    """One DAG per file, named after it, tagged and owned."""
    dag = dagbag.dags["portfolio_transfer"]
    assert dag is not None
    assert Path(dag.fileloc).stem == dag.dag_id
    assert "book-transfer" in dag.tags
    assert all(t.owner == "booktransfer" for t in dag.tasks)


def test_stages_run_in_order(dagbag):
    """wait_for_drop -> extract -> map -> validate -> protect -> load -> reconcile, nothing else."""
    dag = dagbag.dags["portfolio_transfer"]
    expected = {"wait_for_drop": {"extract"}, "extract": {"map_rows"}, "map_rows": {"validate"},
                "validate": {"protect"}, "protect": {"load"}, "load": {"reconcile"}, "reconcile": set()}
    assert {t.task_id: set(t.downstream_task_ids) for t in dag.tasks} == expected


def test_drop_sensor_frees_its_worker_slot_and_gives_up(dagbag):
    """wait_for_drop is a sensor in reschedule mode with a finite timeout, so a missing drop ends the run."""
    sensor = dagbag.dags["portfolio_transfer"].get_task("wait_for_drop")
    assert sensor.mode == "reschedule"
    assert 0 < sensor.poke_interval <= 300
    assert 0 < sensor.timeout <= 24 * 60 * 60
    assert not sensor.soft_fail


def test_only_io_tasks_retry(dagbag):
    """Deterministic stages fail at once; extract and load retry transient I/O errors."""
    dag = dagbag.dags["portfolio_transfer"]
    assert {t.task_id for t in dag.tasks if t.retries} == {"extract", "load"}


def test_every_param_has_a_title_a_description_and_a_section(dagbag):
    """The trigger form explains every setting and groups it."""
    dag = dagbag.dags["portfolio_transfer"]
    params = dag.params
    assert set(params.keys()) == {"transfer_id", "mapping_set", "dry_run", "max_reject_rate", "source",
                                  "source_conn_id", "target", "as_of_date", "buyer_purposes", "suppression_file",
                                  "reconsent_file", "recipient_name", "recipient_contact", "notify_via_policyholder"}
    for name in params.keys():
        param = params.get_param(name)
        assert param.description and param.schema.get("title") and param.schema.get("section"), name


def test_transfer_id_param_rejects_path_tricks(dagbag):
    """A transfer id that could escape the report folder is refused by the form's validation."""
    from airflow.sdk.exceptions import ParamValidationError

    param = dagbag.dags["portfolio_transfer"].params.get_param("transfer_id")
    with pytest.raises(ParamValidationError):
        param.resolve("../../etc")
    assert param.resolve("deal-2026.01") == "deal-2026.01"


def test_source_conn_id_defaults_to_the_local_folder(dagbag):
    """An empty source_conn_id means a local drop folder; a connection id must look like one."""
    from airflow.sdk.exceptions import ParamValidationError

    param = dagbag.dags["portfolio_transfer"].params.get_param("source_conn_id")
    assert param.resolve() == ""
    assert param.resolve("seller_sftp") == "seller_sftp"
    assert param.schema["section"] == "Source"
    with pytest.raises(ParamValidationError):
        param.resolve("sftp://user:secret@host")


def test_max_reject_rate_is_a_share_in_the_transfer_section(dagbag):
    """max_reject_rate is a number from 0 to 1 (default 0.10) in the Transfer section; other values are refused."""
    from airflow.sdk.exceptions import ParamValidationError

    param = dagbag.dags["portfolio_transfer"].params.get_param("max_reject_rate")
    assert param.resolve() == 0.10
    assert param.schema["section"] == "Transfer"
    assert param.resolve(0.02) == 0.02
    for bad in (-0.1, 1.5, "5%"):
        with pytest.raises(ParamValidationError):
            param.resolve(bad)
