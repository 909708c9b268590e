"""The per-entity reject-rate threshold: above it the run stops after validation and loads nothing; a dry run
reports the breach and goes on. Through the `booktransfer run` command and through a real Airflow run."""

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
BIN = Path(sys.executable).parent


def booktransfer(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "BOOKTRANSFER_STAGING": str(tmp_path / "staging"),
           "BOOKTRANSFER_REPORTS": str(tmp_path / "reports")}
    return subprocess.run([str(BIN / "booktransfer"), *args], env=env, capture_output=True, text=True, timeout=600)


def loaded_customers(db: Path) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        if not conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'customers'").fetchone()[0]:
            return 0
        return conn.execute("SELECT count(*) FROM customers").fetchone()[0]


def test_run_stops_above_the_threshold_and_loads_nothing(sample_book, keyring, tmp_path):
    """With 5 % defects and max 1 %, validate stops the run, names entity, rate and file; nothing is loaded;
    the quarantine summary and Data Docs are written for the operator."""
    db = tmp_path / "buyer.db"
    done = booktransfer(["run", "--source", str(sample_book), "--target", f"sqlite:///{db}", "--transfer-id", "thr",
                         "--max-reject-rate", "0.01"], tmp_path)

    assert done.returncode == 2, done.stdout + done.stderr
    assert "reject rate above max_reject_rate 1.00%" in done.stderr
    assert "consents" in done.stderr and "CUST_AUTH_LOG.csv" in done.stderr
    assert loaded_customers(db) == 0
    summary = json.loads((tmp_path / "reports" / "thr" / "cli" / "validation.json").read_text(encoding="utf-8"))
    assert "consents" in summary["over_threshold"] and summary["max_reject_rate"] == 0.01
    assert summary["entities"]["consents"]["reject_rate"] > 0.01
    assert (tmp_path / "reports" / "thr" / "cli" / "data_docs" / "index.html").is_file()


def test_dry_run_reports_the_breach_and_goes_on(sample_book, keyring, tmp_path):
    """The same threshold on a dry run: every stage runs, the report is written, the breach is listed."""
    db = tmp_path / "buyer.db"
    done = booktransfer(["run", "--source", str(sample_book), "--target", f"sqlite:///{db}", "--transfer-id", "thr",
                         "--max-reject-rate", "0.01", "--dry-run"], tmp_path)

    assert done.returncode == 0, done.stdout + done.stderr
    report_dir = tmp_path / "reports" / "thr" / "cli"
    assert json.loads((report_dir / "reconciliation.json").read_text(encoding="utf-8"))["dry_run"] is True
    assert "consents" in json.loads((report_dir / "validation.json").read_text(encoding="utf-8"))["over_threshold"]
    assert loaded_customers(db) == 0


def test_default_threshold_lets_the_sample_through(sample_book, keyring, tmp_path):
    """The default (10 %) does not stop a book with 5 % defects."""
    db = tmp_path / "buyer.db"
    done = booktransfer(["run", "--source", str(sample_book), "--target", f"sqlite:///{db}", "--transfer-id", "thr"],
                        tmp_path)

    assert done.returncode == 0, done.stdout + done.stderr
    assert loaded_customers(db) > 0


def test_airflow_run_stops_at_validate_with_the_param(sample_book, tmp_path):
    """`airflow dags test` with max_reject_rate 0.01: validate fails, load never runs, nothing is loaded."""
    from booktransfer.protect.keyring import write_keyring

    home = tmp_path / "airflow"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "BOOKTRANSFER"))}
    env.update({
        "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}", "BOOKTRANSFER_HOME": str(ROOT),
        "BOOKTRANSFER_STAGING": str(home / "staging"), "BOOKTRANSFER_REPORTS": str(home / "reports"),
        "BOOKTRANSFER_KEYRING": str(write_keyring(home / "keyring.json")),
    })
    subprocess.run([str(BIN / "airflow"), "db", "migrate"], env=env, check=True, capture_output=True, timeout=600)
    db = tmp_path / "buyer.db"
    conf = {"transfer_id": "thr-af", "source": str(sample_book), "target": f"sqlite:///{db}", "max_reject_rate": 0.01}

    done = subprocess.run([str(BIN / "airflow"), "dags", "test", "portfolio_transfer", *DAGS_TEST_APPROVE,
                           "--conf", json.dumps(compliant(conf))],
                          env=env, capture_output=True, text=True, timeout=600)

    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "validate: reject rate above max_reject_rate 1.00%" in output
    assert "end task task_id=load" not in output
    assert loaded_customers(db) == 0
    summary = next((home / "reports" / "thr-af").glob("*/validation.json"))
    assert json.loads(summary.read_text(encoding="utf-8"))["max_reject_rate"] == 0.01
