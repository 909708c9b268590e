"""The load stage's settings through a real Airflow run (`airflow dags test`): purposes, as-of date, a
data-subject request file and the notice recipient travel from the trigger conf into the buyer's tables."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

import pytest

from tests.integration.test_dag_run import airflow_env, dags_test  # noqa: F401  (the module's Airflow home)

pytestmark = pytest.mark.integration


def test_dag_carries_consent_requests_and_notice_settings(airflow_env, sample_book, tmp_path):  # noqa: F811
    """Conf settings reach the load: the named customer is suppressed (counted, not named), purposes outside the
    declared ones are NOT_DECLARED, the manifest names the configured recipient, the as-of date is the conf's."""
    with (sample_book / "LDPERSON.csv").open(encoding="utf-8", newline="") as fh:
        people = list(csv.DictReader(fh))
    with (sample_book / "LCCONT.csv").open(encoding="utf-8", newline="") as fh:
        holders = {r["AppntNo"] for r in csv.DictReader(fh)}
    with (sample_book / "LCPARTY.csv").open(encoding="utf-8", newline="") as fh:
        parties = {r["CustomerNo"] for r in csv.DictReader(fh)}
    nobody = next(p["CustomerNo"] for p in people if p["CustomerType"] == "0" and p["CustomerNo"] not in holders
                  and p["CustomerNo"] not in parties)
    requests = tmp_path / "requests.csv"
    requests.write_text(f"request_type,customer_no\nERASURE,{nobody}\n", encoding="utf-8")
    buyer = tmp_path / "buyer.db"
    conf = {"transfer_id": "e2e-consent", "source": str(sample_book), "target": f"sqlite:///{buyer}",
            "as_of_date": "2025-12-31", "buyer_purposes": ["SERVICING", "MARKETING"],
            "suppression_file": str(requests), "recipient_name": "乙方人寿保险股份有限公司",
            "recipient_contact": "个人信息保护负责人 400-800-0000"}
    done = dags_test(airflow_env, conf)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    [report_path] = (Path(airflow_env["BOOKTRANSFER_REPORTS"]) / "e2e-consent").glob("*/reconciliation.json")
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["verdict"] == "PASS"
    assert report["entities"]["customers"]["suppressed"] == 1
    assert report["load_plan"]["as_of_date"] == "2025-12-31"
    assert nobody not in report_path.read_text(encoding="utf-8") and nobody not in output
    with sqlite3.connect(buyer) as db:
        assert db.execute("SELECT count(*) FROM customers WHERE customer_no = ?", (nobody,)).fetchone()[0] == 0
        recipients = db.execute("SELECT DISTINCT recipient_name, recipient_contact FROM notification_manifest"
                                ).fetchall()
        reasons = dict(db.execute("SELECT purpose, group_concat(DISTINCT reason) FROM consent_status "
                                  "GROUP BY purpose").fetchall())
    assert recipients == [("乙方人寿保险股份有限公司", "个人信息保护负责人 400-800-0000")]
    assert reasons["SENSITIVE_DATA"] == "NOT_DECLARED" and reasons["CROSS_BORDER"] == "NOT_DECLARED"
    assert "NOT_DECLARED" not in reasons["MARKETING"]
