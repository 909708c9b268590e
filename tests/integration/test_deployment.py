"""The DAG in a real deployment, driven as an operations team drives it: through Airflow's REST API.

The `airflow_stack` fixture (tests/integration/airflow_stack.py) runs `airflow api-server`, `airflow scheduler`
and `airflow dag-processor` with the LocalExecutor on a PostgreSQL metadata database of its own.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.integration.airflow_stack import DAG_ID
from tests.integration.transfer_conf import compliant

pytestmark = pytest.mark.integration
RUN_TIMEOUT = 240.0


def approve_gates(task_instance: dict[str, Any], detail: dict[str, Any]) -> list[str] | None:
    """Approve an approval gate the DAG may hold before load (a plain transfer must pass it); leave others."""
    return ["Approve"] if "Approve" in (detail.get("options") or []) else None


def test_transfer_triggered_through_the_rest_api_succeeds(airflow_stack, sample_book, tmp_path):
    """POST a run with a conf, poll it to success: every task of the DAG ran and succeeded, and the reconcile
    task's XCom names a PASS report whose reconciliation.json balances every entity."""
    client = airflow_stack.client
    buyer = tmp_path / "buyer.db"
    conf = compliant({"transfer_id": "rest-api-e2e", "source": str(sample_book), "target": f"sqlite:///{buyer}"})

    run_id = client.trigger(DAG_ID, conf)
    run = client.wait_for_run(DAG_ID, run_id, timeout=RUN_TIMEOUT, answer=approve_gates)

    assert run["state"] == "success", airflow_stack.describe_run(DAG_ID, run_id)
    assert run["conf"] == conf
    task_instances = client.task_instances(DAG_ID, run_id)
    assert {ti["task_id"] for ti in task_instances} == client.dag_task_ids(DAG_ID)
    not_successful = {(ti["task_id"], ti["map_index"]): ti["state"] for ti in task_instances
                      if ti["state"] != "success"}
    assert not_successful == {}, airflow_stack.describe_run(DAG_ID, run_id)

    result = client.xcom(DAG_ID, run_id, "reconcile")
    assert result["verdict"] == "PASS"
    report_dir = Path(result["report_dir"])
    assert report_dir.is_relative_to(airflow_stack.reports / "rest-api-e2e")
    report = json.loads((report_dir / "reconciliation.json").read_text(encoding="utf-8"))
    assert report["verdict"] == "PASS"
    assert report["entities"]
    with sqlite3.connect(buyer) as db:
        for entity, balance in report["entities"].items():
            in_target = db.execute(f"SELECT count(*) FROM {entity} WHERE transfer_id = ?", [conf["transfer_id"]])
            assert balance["loaded"] == in_target.fetchone()[0] > 0, entity
            accounted = balance["loaded"] + balance["quarantined"] + balance.get("suppressed", 0) \
                + balance.get("merged", 0)
            assert accounted == balance["source_rows"] and balance["holds"] is True, entity
