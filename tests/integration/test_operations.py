"""Operating a transfer as an operations team does, on a real deployment (api-server, scheduler, dag-processor):
trigger through the REST API with a conf, answer the approval gate through the human-in-the-loop API, read the
report path from the final task's XCom; the compliance gate refusing bad settings; a rejected approval; a dry
run; clearing a failed task after its cause is fixed. Alerts go to a real webhook server on 127.0.0.1.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from booktransfer.operations.form import defaults
from booktransfer.pipeline import safe_segment
from booktransfer.reconcile.manifest import verify_folder
from booktransfer.reconcile.signing import load_public_key, public_path
from tests.integration.airflow_stack import DAG_ID
from tests.integration.test_leak_scan import Scanner, personal_values
from tests.integration.transfer_conf import APPROVAL_TASK, compliant

pytestmark = pytest.mark.integration
RUN_TIMEOUT = 300.0


class Webhook:
    """A real HTTP server on 127.0.0.1 that keeps every JSON body POSTed to it, with its Authorization header."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with hook.lock:
                    hook.received.append({"path": self.path, "authorization": self.headers.get("Authorization"),
                                          "raw": body, "json": json.loads(body)})
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def alerts(self, run_id: str) -> list[dict[str, Any]]:
        """The alerts received about one run."""
        with self.lock:
            return [r["json"] for r in self.received if r["json"].get("run_id") == run_id]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.stop()


@pytest.fixture(scope="module")
def alert_conn(airflow_stack, webhook) -> Iterator[str]:
    """An Airflow http connection to the webhook, created through the REST API (its password: a bearer token)."""
    conn_id = f"ops_alerts_{secrets.token_hex(3)}"
    airflow_stack.client.create_connection(conn_id, "http", host="127.0.0.1", port=webhook.port, schema="http",
                                           password="alert-token-123", extra=json.dumps({"endpoint": "/alerts"}))
    yield conn_id
    airflow_stack.client.delete_connection(conn_id)


def base_conf(transfer_id: str, sample_book: Path, target: Path, alert_conn: str, **extra: Any) -> dict[str, Any]:
    return compliant({"transfer_id": transfer_id, "source": str(sample_book), "target": f"sqlite:///{target}",
                      "alert_conn_id": alert_conn, **extra})


def states(client, run_id: str) -> dict[str, set[str]]:
    """Each task's states in a run (a task mapped over partitions has one per partition)."""
    out: dict[str, set[str]] = {}
    for ti in client.task_instances(DAG_ID, run_id):
        out.setdefault(ti["task_id"], set()).add(ti["state"])
    return out


def every_state(client, run_id: str) -> set[str]:
    return set().union(*states(client, run_id).values())


def run_dir(stack, transfer_id: str, run_id: str) -> Path:
    return stack.staging / safe_segment(transfer_id) / safe_segment(run_id)


def rows_for(db: Path, table: str, transfer_id: str) -> int:
    """Rows of a transfer in a buyer table; 0 when the database or the table does not exist."""
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", [table]).fetchone():
            return 0
        return conn.execute(f"SELECT count(*) FROM {table} WHERE transfer_id = ?", [transfer_id]).fetchone()[0]


TRANSFER = "ops-transfer"
AS_OF = "2026-06-30"


@dataclass
class Operated:
    """One run an operator started, and what they saw when its approval gate asked."""

    conf: dict[str, Any]
    buyer: Path
    decision: str | None
    run_id: str = ""
    run: dict[str, Any] = field(default_factory=dict)
    asked: dict[str, Any] | None = None


def operate(stack, runs: dict[str, Operated], webhook: Webhook) -> None:
    """Trigger every run at once (the deployment runs them side by side), answer each approval gate as it asks
    - first noting what the page shows, what is loaded and which alerts came - and poll until all have ended."""
    client = stack.client
    for op in runs.values():
        op.run_id = client.trigger(DAG_ID, op.conf)
    deadline = time.monotonic() + 2 * RUN_TIMEOUT
    while any(not op.run for op in runs.values()):
        stack.check_alive()
        for op in runs.values():
            if op.run:
                continue
            run = client.dag_run(DAG_ID, op.run_id)
            if run["state"] in ("success", "failed"):
                op.run = run
            elif op.asked is None and client.waiting_for_input(DAG_ID, op.run_id):  # and safe to answer
                op.asked = {"detail": client.hitl_detail(DAG_ID, op.run_id, APPROVAL_TASK),
                            "loaded": rows_for(op.buyer, "customers", op.conf["transfer_id"]),
                            "alerts": webhook.alerts(op.run_id)}
                client.respond(DAG_ID, op.run_id, APPROVAL_TASK, [op.decision])
        assert time.monotonic() < deadline, {n: client.task_states(DAG_ID, op.run_id) for n, op in runs.items()}
        time.sleep(1)


@pytest.fixture(scope="module")
def operated(airflow_stack, sample_book, tmp_path_factory, webhook, alert_conn) -> dict[str, Operated]:
    """Three runs an operator starts through the REST API with a conf: one approved, one rejected (through the
    HITL API), one dry run (which never asks)."""
    folder = tmp_path_factory.mktemp("ops-runs")
    runs = {
        "approved": Operated(base_conf(TRANSFER, sample_book, folder / "approved.db", alert_conn, as_of_date=AS_OF),
                             folder / "approved.db", "Approve"),
        "rejected": Operated(base_conf("ops-rejected", sample_book, folder / "rejected.db", alert_conn),
                             folder / "rejected.db", "Reject"),
        "dry": Operated(base_conf("ops-dry", sample_book, folder / "dry.db", alert_conn, dry_run=True),
                        folder / "dry.db", None),
    }
    operate(airflow_stack, runs, webhook)
    return runs


def test_an_approved_transfer_through_the_rest_api(airflow_stack, sample_book, operated, webhook):
    """The approval page shows the validation summary (counts and reasons by code, no personal value) while
    nothing is loaded; after the approval the run succeeds and the reconcile task's XCom names the report, which
    carries the settings used and both gates' decisions, signed."""
    client, op = airflow_stack.client, operated["approved"]
    detail, body = op.asked["detail"], op.asked["detail"]["body"]
    validation = json.loads((run_dir(airflow_stack, TRANSFER, op.run_id) / "validation.json").read_text())
    assert detail["options"] == ["Approve", "Reject"] and detail["subject"].startswith(f"Load transfer {TRANSFER}")
    for entity, s in validation["entities"].items():
        assert f"| {entity} | {s['source_rows']} | {s['rows_valid']} | {s['rows_quarantined']} " in body, entity
        for code in s["rejects_by_reason"]:
            assert f"`{code}`" in body, code
    assert "PASS: legal route ART22_NOTICE" in body
    assert Scanner(personal_values(sample_book)).hits(body.encode()) == set()
    assert op.asked["loaded"] == 0
    [needed] = op.asked["alerts"]
    assert needed["event"] == "approval_needed" and needed["task_url"].endswith("/tasks/approve_load/required_actions")

    assert op.run["state"] == "success", airflow_stack.describe_run(DAG_ID, op.run_id)
    assert every_state(client, op.run_id) == {"success"}
    result = client.xcom(DAG_ID, op.run_id, "reconcile")
    report_dir = Path(result["report_dir"])
    assert result["verdict"] == "PASS" and report_dir.is_relative_to(airflow_stack.reports / TRANSFER)
    report = json.loads((report_dir / "reconciliation.json").read_text(encoding="utf-8"))
    assert report["verdict"] == "PASS" and report["dry_run"] is False
    assert report["settings"]["origin"] == "trigger form"
    assert report["settings"]["params"] == {**defaults(), **op.conf}
    assert report["gates"]["compliance"]["verdict"] == "PASS"
    approval = report["gates"]["approval"]
    assert approval["decision"] == "APPROVED" and approval["chosen_options"] == ["Approve"] and approval["responded_by"]
    manifest = json.loads((report_dir / "MANIFEST").read_text(encoding="utf-8"))
    assert manifest["run"]["settings"] == report["settings"] and manifest["run"]["gates"] == report["gates"]
    signing_key = Path(airflow_stack.env["BOOKTRANSFER_SIGNING_KEY_FILE"])
    assert verify_folder(report_dir, load_public_key(public_path(signing_key))).ok
    for entity, balance in report["entities"].items():
        assert balance["holds"] and balance["loaded"] == rows_for(op.buyer, entity, TRANSFER) > 0, entity
    assert [a["event"] for a in webhook.alerts(op.run_id)] == ["approval_needed"]
    assert all(r["authorization"] == "Bearer alert-token-123" and b"alert-token-123" not in r["raw"]
               for r in webhook.received)


GATE_CASES = {
    "ops-gate-no-pipia": ({"pipia_reference": ""}, "PIPIA_MISSING", "no impact assessment (PIPIA) reference"),
    "ops-gate-border": ({"buyer_purposes": ["SERVICING", "CROSS_BORDER"],
                         "cross_border_destinations": [{"jurisdiction": "HK", "recipient": "Buyer Group (HK) Ltd"}]},
                        "CROSS_BORDER_NO_MECHANISM", "destination HK (Buyer Group (HK) Ltd) is outside the mainland"),
    "ops-gate-purpose": ({"buyer_purposes": ["SERVICING", "MARKETING", "CROSS_SELL"]}, "PURPOSE_NOT_PERMITTED",
                         "buyer purpose(s) CROSS_SELL go beyond what the seller's consents permit"),
}


def test_the_compliance_gate_stops_bad_settings_before_anything_is_fetched(airflow_stack, sample_book, tmp_path,
                                                                           webhook, alert_conn):
    """A missing impact assessment, a cross-border destination without a mechanism, a purpose beyond consent:
    each run fails at compliance_gate with a clear message, nothing after it runs, the alert carries the check."""
    client = airflow_stack.client
    runs = {}
    for transfer_id, (extra, _, _) in GATE_CASES.items():
        conf = {**base_conf(transfer_id, sample_book, tmp_path / f"{transfer_id}.db", alert_conn), **extra}
        runs[transfer_id] = client.trigger(DAG_ID, conf)
    for transfer_id, (_, code, sentence) in GATE_CASES.items():
        run_id = runs[transfer_id]
        run = client.wait_for_run(DAG_ID, run_id, timeout=RUN_TIMEOUT)
        assert run["state"] == "failed", airflow_stack.describe_run(DAG_ID, run_id)
        found = states(client, run_id)
        assert found.pop("compliance_gate") == {"failed"}
        assert set().union(*found.values()) == {"upstream_failed"}, found
        log = airflow_stack.task_log_tail(DAG_ID, run_id, "compliance_gate", lines=400)
        assert code in log and sentence in log, log
        record = json.loads((run_dir(airflow_stack, transfer_id, run_id) / "compliance.json").read_text())
        assert record["verdict"] == "FAIL" and [f["code"] for f in record["findings"]] == [code]
        assert not (run_dir(airflow_stack, transfer_id, run_id) / "extract.json").exists()
        assert not (tmp_path / f"{transfer_id}.db").exists()
        [alert] = webhook.alerts(run_id)
        assert alert["event"] == "task_failed" and alert["task_id"] == "compliance_gate"
        assert alert["check"].startswith("ComplianceGateFailed: 1 problem(s)") and code in alert["check"]
        assert alert["run_url"].endswith(run_id.replace(":", "%3A").replace("+", "%2B"))


def test_a_rejected_approval_loads_nothing(airflow_stack, operated, webhook):
    """Reject through the HITL API: the gate fails, load and reconcile never run, the target stays empty, the
    decision is on record and the alert says the load was rejected."""
    client, op = airflow_stack.client, operated["rejected"]
    assert op.asked is not None and op.run["state"] == "failed"
    found = states(client, op.run_id)
    assert (found[APPROVAL_TASK], found["load"], found["reconcile"]) == ({"failed"}, {"upstream_failed"},
                                                                        {"upstream_failed"}), found
    assert found["plan_load"] == {"success"}
    for table in ("customers", "policies", "transfer_runs", "consent_status", "notification_manifest"):
        assert rows_for(op.buyer, table, "ops-rejected") == 0, table
    record = json.loads((run_dir(airflow_stack, "ops-rejected", op.run_id) / "approval.json").read_text())
    assert record["decision"] == "REJECTED" and record["chosen_options"] == ["Reject"]
    failed = [a for a in webhook.alerts(op.run_id) if a["event"] == "task_failed"]
    assert [a["task_id"] for a in failed] == [APPROVAL_TASK]
    assert "rejected at the approval gate; nothing was loaded" in failed[0]["check"]


def test_a_dry_run_skips_the_approval_and_the_load_and_still_reports(airflow_stack, operated):
    """Skipped is not failed: the run succeeds, the report says what would have loaded, the target is untouched."""
    client, op = airflow_stack.client, operated["dry"]
    assert op.run["state"] == "success", airflow_stack.describe_run(DAG_ID, op.run_id)
    assert op.asked is None
    found = states(client, op.run_id)
    assert (found.pop(APPROVAL_TASK), found.pop("load")) == ({"skipped"}, {"skipped"})
    # Partitioned runs add per-share load and verify tasks after the gate; a dry run skips them too.
    skipped = {task for task, st in found.items() if st == {"skipped"}}
    assert all("load" in task or "verify" in task for task in skipped), skipped
    assert set().union(*found.values()) <= {"success", "skipped"}, found
    assert {task for task in ("compliance_gate", "extract", "reconcile") if found[task] == {"success"}} == {
        "compliance_gate", "extract", "reconcile"}, found
    report = json.loads((Path(client.xcom(DAG_ID, op.run_id, "reconcile")["report_dir"]) / "reconciliation.json")
                        .read_text(encoding="utf-8"))
    assert report["dry_run"] is True and report["verdict"] == "PASS"
    assert report["gates"]["approval"]["decision"] == "SKIPPED" and report["settings"]["params"]["dry_run"] is True
    assert all(b["loaded"] > 0 and b["holds"] for b in report["entities"].values())
    assert not op.buyer.exists()


def lineage(db: Path, transfer_id: str) -> dict[str, list[tuple[int, str]]]:
    """Per buyer entity table: its (source_line, row_fingerprint) pairs, sorted; and every table's row count."""
    out: dict[str, Any] = {}
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        for table in tables:
            columns = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
            if {"source_line", "row_fingerprint", "transfer_id"} <= columns:
                out[table] = sorted(conn.execute(f"SELECT source_line, row_fingerprint FROM {table} "
                                                 "WHERE transfer_id = ?", [transfer_id]).fetchall())
            elif "transfer_id" in columns and table != "transfer_runs":
                out[table] = conn.execute(f"SELECT count(*) FROM {table} WHERE transfer_id = ?",
                                          [transfer_id]).fetchone()[0]
    return out


def test_clearing_a_failed_task_after_the_fix_reaches_the_same_end_state(airflow_stack, sample_book, tmp_path,
                                                                          webhook, alert_conn, operated):
    """The buyer's database has a stray table of the wrong shape: plan_load fails (alerted, nothing written).
    The DBA removes it; the operator clears plan_load and what follows through the REST API and approves again:
    the run ends with exactly the rows the clean run of the same transfer and settings loaded. Clearing the
    finished load once more writes nothing twice."""
    client = airflow_stack.client
    broken = tmp_path / "broken.db"
    with sqlite3.connect(broken) as db:
        db.execute("CREATE TABLE customers (customer_no TEXT)")
    run_id = client.trigger(DAG_ID, {**operated["approved"].conf, "target": f"sqlite:///{broken}"})
    answer = lambda ti, detail: ["Approve"]  # noqa: E731

    failed = client.wait_for_run(DAG_ID, run_id, timeout=RUN_TIMEOUT)
    [failing] = [t for t, found in states(client, run_id).items() if "failed" in found]
    assert failed["state"] == "failed" and failing.startswith("plan_")  # the load plan checks the target
    alerts = [a for a in webhook.alerts(run_id) if a["event"] == "task_failed"]
    assert alerts and {a["task_id"] for a in alerts} == {failing}
    assert all(a["check"].startswith("SchemaMismatch: the buyer's database") for a in alerts)
    with sqlite3.connect(broken) as db:
        assert db.execute("SELECT count(*) FROM customers").fetchone()[0] == 0
        db.execute("DROP TABLE customers")

    cleared = {ti["task_id"] for ti in client.clear_tasks(DAG_ID, run_id, [failing])}
    assert {failing, "load_or_dry_run", APPROVAL_TASK, "load", "reconcile"} <= cleared
    assert not cleared & {"compliance_gate", "extract", "validate", "protect"}
    rerun = client.wait_for_run(DAG_ID, run_id, timeout=RUN_TIMEOUT, answer=answer)
    assert rerun["state"] == "success", airflow_stack.describe_run(DAG_ID, run_id)
    assert every_state(client, run_id) == {"success"}
    assert client.xcom(DAG_ID, run_id, "reconcile")["verdict"] == "PASS"
    end_state = lineage(broken, TRANSFER)
    assert end_state == lineage(operated["approved"].buyer, TRANSFER) and end_state["customers"]

    client.clear_tasks(DAG_ID, run_id, ["load"])
    again = client.wait_for_run(DAG_ID, run_id, timeout=RUN_TIMEOUT, answer=answer)
    assert again["state"] == "success", airflow_stack.describe_run(DAG_ID, run_id)
    loads = [ti for ti in client.task_instances(DAG_ID, run_id) if ti["task_id"] == "load"]
    written = [client.xcom(DAG_ID, run_id, "load", map_index=ti["map_index"])["written"] for ti in loads]
    assert loads and {n for w in written for n in w.values()} == {0}
    assert lineage(broken, TRANSFER) == end_state
