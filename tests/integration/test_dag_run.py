"""The real DAG, run by Airflow itself (`airflow dags test` on an SQLite metadata DB), as `make demo` does."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.transfer_conf import DAGS_TEST_APPROVE, compliant

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
AIRFLOW = str(Path(sys.executable).with_name("airflow"))


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory) -> dict[str, str]:
    """A fresh Airflow home with a migrated metadata DB, and booktransfer's paths inside the test's folder."""
    from booktransfer.protect.keyring import write_keyring

    home = tmp_path_factory.mktemp("airflow")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "BOOKTRANSFER"))}
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "BOOKTRANSFER_HOME": str(ROOT),
        "BOOKTRANSFER_STAGING": str(home / "staging"),
        "BOOKTRANSFER_REPORTS": str(home / "reports"),
        "BOOKTRANSFER_KEYRING": str(write_keyring(home / "keyring.json")),
    })
    subprocess.run([AIRFLOW, "db", "migrate"], env=env, check=True, capture_output=True)
    return env


def dags_test(env: dict[str, str], conf: dict) -> subprocess.CompletedProcess:
    """`airflow dags test` with a current impact assessment added and the approval gate marked done."""
    return subprocess.run([AIRFLOW, "dags", "test", "portfolio_transfer", *DAGS_TEST_APPROVE,
                           "--conf", json.dumps(compliant(conf))],
                          env=env, capture_output=True, text=True, timeout=600)


def test_dag_transfers_the_sample_book(airflow_env, sample_book, tmp_path):
    """All six tasks succeed; the buyer tables hold what the report says was loaded; the equation holds."""
    buyer = tmp_path / "buyer.db"
    done = dags_test(airflow_env, {"transfer_id": "e2e", "source": str(sample_book), "target": f"sqlite:///{buyer}"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    reports = list((Path(airflow_env["BOOKTRANSFER_REPORTS"]) / "e2e").glob("*/reconciliation.json"))
    assert len(reports) == 1
    report = json.loads(reports[0].read_text(encoding="utf-8"))
    assert report["verdict"] == "PASS"
    with sqlite3.connect(buyer) as db:
        for entity, balance in report["entities"].items():
            loaded = db.execute(f"SELECT count(*) FROM {entity} WHERE transfer_id = 'e2e'").fetchone()[0]
            assert balance["loaded"] == loaded > 0
            assert balance["loaded"] + balance["quarantined"] == balance["source_rows"]
        runs = db.execute("SELECT entity, rows_loaded FROM transfer_runs WHERE transfer_id = 'e2e'").fetchall()
    assert {e: n for e, n in runs if e in report["entities"]} == {e: b["loaded"] for e, b in report["entities"].items()}
    assert "[DAG TEST] end task task_id=reconcile" in done.stdout + done.stderr


def test_dag_fails_closed_on_an_unclassified_column(airflow_env, sample_book, tmp_path):
    """An extra source column nobody classified stops the run at extract, says which, and loads nothing."""
    import hashlib

    drop = tmp_path / "drop"
    drop.mkdir()
    for f in sample_book.iterdir():
        (drop / f.name).write_bytes(f.read_bytes())
    lines = (drop / "LCCONT.csv").read_text(encoding="utf-8").splitlines()
    lines = [lines[0] + ",AgentRemark"] + [line + ",x" for line in lines[1:]]
    (drop / "LCCONT.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    control = [
        f"LCCONT.csv|{len(lines) - 1}|{hashlib.sha256((drop / 'LCCONT.csv').read_bytes()).hexdigest()}"
        if row.startswith("LCCONT.csv|") else row
        for row in (drop / "CONTROL.txt").read_text().split()
    ]
    (drop / "CONTROL.txt").write_text("\n".join(control) + "\n")
    buyer = tmp_path / "buyer.db"
    done = dags_test(airflow_env, {"transfer_id": "e2e-bad", "source": str(drop), "target": f"sqlite:///{buyer}"})
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "UNCLASSIFIED_COLUMN" in output and "AgentRemark" in output and "LCCONT.csv" in output
    assert not buyer.exists() or sqlite3.connect(buyer).execute(
        "SELECT count(*) FROM sqlite_master WHERE name = 'customers'").fetchone()[0] == 0


def _reschedules(airflow_db: Path) -> int:
    """How many sensor reschedules the metadata DB has recorded so far (read-only; waits out a writer's lock)."""
    with sqlite3.connect(f"file:{airflow_db}?mode=ro", uri=True, timeout=10) as db:
        return db.execute("SELECT count(*) FROM task_reschedule").fetchone()[0]


def test_dag_waits_for_an_sftp_drop_and_transfers_it(airflow_env, sample_book, sshd, sftp_drop, tmp_path):
    """Through an Airflow SFTP connection (key file, pinned host key): wait_for_drop reschedules until the seller
    writes the control file, then the whole transfer runs from the sshd's drop folder and balances."""
    import shutil
    import threading
    import time

    for f in sample_book.iterdir():
        if f.name != "CONTROL.txt":
            shutil.copyfile(f, sftp_drop / f.name)
    airflow_db = Path(airflow_env["AIRFLOW_HOME"]) / "airflow.db"
    before = _reschedules(airflow_db)
    done_waiting = threading.Event()

    def write_control_after_first_poke() -> None:
        deadline = time.monotonic() + 300
        while not done_waiting.is_set() and time.monotonic() < deadline:
            if _reschedules(airflow_db) > before:
                shutil.copyfile(sample_book / "CONTROL.txt", sftp_drop / ".CONTROL.txt.tmp")
                os.replace(sftp_drop / ".CONTROL.txt.tmp", sftp_drop / "CONTROL.txt")
                return
            time.sleep(0.2)

    connection = {"conn_type": "sftp", "host": sshd.host, "port": sshd.port, "login": sshd.username,
                  "extra": {"host_key": sshd.host_key, "key_file": str(sshd.client_key_file)}}
    env = {**airflow_env, "AIRFLOW_CONN_SELLER_SFTP": json.dumps(connection), "BOOKTRANSFER_DROP_POKE_SECONDS": "1"}
    buyer = tmp_path / "buyer.db"
    seller = threading.Thread(target=write_control_after_first_poke, daemon=True)
    seller.start()
    try:
        done = dags_test(env, {"transfer_id": "e2e-sftp", "source": str(sftp_drop), "source_conn_id": "seller_sftp",
                               "target": f"sqlite:///{buyer}"})
    finally:
        done_waiting.set()
        seller.join(timeout=5)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert _reschedules(airflow_db) > before, "wait_for_drop must have waited for the control file"
    [report_path] = (Path(airflow_env["BOOKTRANSFER_REPORTS"]) / "e2e-sftp").glob("*/reconciliation.json")
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["verdict"] == "PASS"
    with sqlite3.connect(buyer) as db:
        for entity, balance in report["entities"].items():
            loaded = db.execute(f"SELECT count(*) FROM {entity} WHERE transfer_id = 'e2e-sftp'").fetchone()[0]
            assert balance["loaded"] == loaded > 0
    assert not list((Path(airflow_env["BOOKTRANSFER_STAGING"]) / "e2e-sftp").glob("*/security_events.jsonl"))
