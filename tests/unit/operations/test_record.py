"""booktransfer.operations.record: the run's settings and gate decisions, read back for the report."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from booktransfer.load.settings import TransferSettings
from booktransfer.operations.record import (
    APPROVAL_FILE,
    approval_record,
    run_record,
    write_approval,
    write_settings,
)
from booktransfer.pipeline import RunContext


def ctx(tmp_path, dry_run: bool = False) -> RunContext:
    return RunContext("t1", "manual__1", "example_seller", "sqlite://", dry_run=dry_run, staging_root=tmp_path,
                      as_of=date(2026, 6, 30), settings=TransferSettings(buyer_purposes=("SERVICING",)))


def test_the_form_values_and_the_approval_reach_the_record(tmp_path):
    """settings.json and approval.json written by the tasks are what the report's sections show."""
    c = ctx(tmp_path)
    write_settings(c.run_dir, {"transfer_id": "t1", "legal_route": "ART22_NOTICE"})
    at = datetime(2026, 7, 1, 9, 30, tzinfo=UTC)
    write_approval(c.run_dir, approval_record({"chosen_options": ["Approve"], "responded_by_user":
                                               {"id": "ops.li", "name": "ops.li"}, "responded_at": at},
                                              "approve_load"))
    record = run_record(c)
    assert record["settings"] == {"origin": "trigger form",
                                  "params": {"transfer_id": "t1", "legal_route": "ART22_NOTICE"}}
    assert record["gates"]["approval"] == {"task_id": "approve_load", "decision": "APPROVED",
                                           "chosen_options": ["Approve"], "responded_by": "ops.li",
                                           "responded_at": "2026-07-01T09:30:00+00:00"}
    assert record["gates"]["compliance"] is None
    assert json.loads((c.run_dir / APPROVAL_FILE).read_text())["decision"] == "APPROVED"


def test_reject_and_timeout_are_recorded_as_such():
    """Reject is REJECTED; a timeout event (no choice) is NO_ANSWER, never a decision."""
    assert approval_record({"chosen_options": ["Reject"]}, "approve_load")["decision"] == "REJECTED"
    timeout = {"error": "timed out", "error_type": "timeout"}
    assert approval_record(timeout, "approve_load")["decision"] == "NO_ANSWER"


def test_a_run_without_the_form_records_its_context(tmp_path):
    """A CLI run has no settings.json: the report still says which settings it used; a dry run's approval is
    SKIPPED, a real run's missing approval is None."""
    record = run_record(ctx(tmp_path))
    assert record["settings"]["origin"].startswith("run context")
    assert record["settings"]["params"]["as_of_date"] == "2026-06-30"
    assert record["settings"]["params"]["buyer_purposes"] == ["SERVICING"]
    assert record["gates"]["approval"] is None
    assert run_record(ctx(tmp_path, dry_run=True))["gates"]["approval"]["decision"] == "SKIPPED"
