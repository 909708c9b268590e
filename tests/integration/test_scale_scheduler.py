"""Four partitions through a real scheduler: `airflow scheduler` + `dag-processor` + `api-server`, LocalExecutor with
parallelism 2, a PostgreSQL metadata database (the `airflow_stack` fixture), a PostgreSQL buyer database.

Triggered through the REST API with `partitions: 4`: every partitioned stage runs as four mapped task instances
(map index 0-3), two at a time, the book-level steps once; the load's shares land side by side under the transfer's
lease; the report balances every entity at the level of source lines and record by record.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.integration.airflow_stack import DAG_ID
from tests.integration.conftest import PG_URL
from tests.integration.transfer_conf import compliant

pytestmark = pytest.mark.integration
RUN_TIMEOUT = 600.0
PARTITIONS = 4
MAPPED = {"map_rows", "validate", "protect", "plan_partition", "load", "verify"}
BOOK_LEVEL = {"compliance_gate", "wait_for_drop", "extract", "validate_book", "plan_load", "load_or_dry_run",
              "approve_load", "reconcile"}


def approve(task_instance: dict[str, Any], detail: dict[str, Any]) -> list[str] | None:
    """Approve the load when the approval gate asks."""
    return ["Approve"] if "Approve" in (detail.get("options") or []) else None


@pytest.fixture()
def buyer(airflow_stack):
    """A schema of its own on the local PostgreSQL server, as an Airflow connection made through the REST API."""
    schema = f"bt_sched_{secrets.token_hex(4)}"
    conn_id = f"buyer_{schema}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    airflow_stack.client.create_connection(conn_id, "postgres", host="127.0.0.1", port=5432, schema="test",
                                           login="postgres", extra=json.dumps({"options": f"-csearch_path={schema}"}))
    yield {"conn_id": conn_id, "schema": schema}
    airflow_stack.client.delete_connection(conn_id)
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(scope="module")
def small_book(tmp_path_factory) -> Path:
    """A 300-customer book with 5 % defects."""
    from booktransfer.sample.generator import generate_book

    drop = tmp_path_factory.mktemp("sched-book") / "drop"
    generate_book(drop, customers=300, seed=17, defect_rate=0.05)
    return drop


def test_four_partitions_run_as_mapped_task_instances_and_the_report_balances(airflow_stack, small_book, buyer):
    client = airflow_stack.client
    conf = compliant({"transfer_id": "scale-sched", "source": str(small_book), "target": buyer["conn_id"],
                      "partitions": PARTITIONS})

    run_id = client.trigger(DAG_ID, conf)
    run = client.wait_for_run(DAG_ID, run_id, timeout=RUN_TIMEOUT, answer=approve)

    assert run["state"] == "success", airflow_stack.describe_run(DAG_ID, run_id)
    instances = client.task_instances(DAG_ID, run_id)
    by_task: dict[str, dict[int, str]] = {}
    for ti in instances:
        by_task.setdefault(ti["task_id"], {})[ti["map_index"]] = ti["state"]
    for task in MAPPED:
        assert by_task[task] == dict.fromkeys(range(PARTITIONS), "success"), task
    for task in BOOK_LEVEL:
        assert by_task[task] == {-1: "success"}, task
    extracted = client.xcom(DAG_ID, run_id, "extract")
    assert extracted == [{"partition": p, "of": PARTITIONS} for p in range(PARTITIONS)]
    loads = [client.xcom(DAG_ID, run_id, "load", map_index=p) for p in range(PARTITIONS)]
    assert [lo["partition"] for lo in loads] == list(range(PARTITIONS))
    assert all(lo["written"]["customers"] > 0 and lo["written"]["consent_status"] > 0 for lo in loads)

    result = client.xcom(DAG_ID, run_id, "reconcile")
    assert result["verdict"] == "PASS"
    report = json.loads((Path(result["report_dir"]) / "reconciliation.json").read_text(encoding="utf-8"))
    assert report["verdict"] == "PASS" and report["failed_entities"] == []
    assert all(r["ok"] and r["matched"] == r["expected"] for r in report["record_level"])
    with psycopg.connect(f"{PG_URL}?options=-csearch_path%3D{buyer['schema']}") as db:
        for entity, balance in report["entities"].items():
            held = db.execute(f"SELECT count(*), count(DISTINCT source_line) FROM {entity} "
                              "WHERE transfer_id = 'scale-sched'").fetchone()
            assert balance["loaded"] == held[0] == held[1] > 0, entity
            accounted = balance["loaded"] + balance["quarantined"] + balance["suppressed"] + balance["merged"]
            assert accounted == balance["source_rows"] and balance["holds"] is True, entity
        assert sum(lo["written"]["customers"] for lo in loads) == report["entities"]["customers"]["loaded"]
        shares = db.execute("SELECT entity FROM transfer_runs WHERE transfer_id = 'scale-sched' "
                            "AND entity LIKE 'customers#%'").fetchall()
        assert sorted(e for (e,) in shares) == [f"customers#part-00{p}-of-004" for p in range(PARTITIONS)]
    extract = json.loads((airflow_stack.staging / "scale-sched").glob("*/extract.json").__next__()
                         .read_text(encoding="utf-8"))
    assert extract["partitions"]["count"] == PARTITIONS and all(extract["partitions"]["rows"]["customers"])
