"""The run's record of its settings and of the two gates' decisions, for the report and the signed MANIFEST.

In `{run_dir}`: `settings.json` (the trigger form's values as the run used them, written by the compliance
gate), `compliance.json` (the gate's verdict and findings) and `approval.json` (who approved or rejected the
load, and when). `run_record` reads them back for reconciliation.json's `settings` and `gates` sections. A run
without the DAG (`booktransfer run`) has no settings.json: its settings come from the run context.

Settings hold no secret and no personal value (the form refuses them); the approver is an Airflow user id.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from booktransfer.pipeline import RunContext

SETTINGS_FILE, COMPLIANCE_FILE, APPROVAL_FILE = "settings.json", "compliance.json", "approval.json"
APPROVED, REJECTED, NO_ANSWER = "APPROVED", "REJECTED", "NO_ANSWER"


def write_json(path: Path, doc: Mapping[str, Any]) -> Path:
    """Write a JSON document atomically (temporary name, then rename; one put on a staging URL)."""
    from booktransfer.storage import write_text

    write_text(path, json.dumps(doc, ensure_ascii=False, indent=2, default=str) + "\n")
    return path


def _read(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def write_settings(run_dir: Path, params: Mapping[str, Any]) -> Path:
    """Record the form's values the run uses (every param, defaults included)."""
    return write_json(run_dir / SETTINGS_FILE, {"origin": "trigger form", "params": dict(params)})


def approval_record(event: Mapping[str, Any], task_id: str) -> dict[str, Any]:
    """What an approval gate's response says: the decision, who gave it (Airflow user id) and when."""
    chosen = list(event.get("chosen_options") or [])
    user = event.get("responded_by_user") or {}
    at = event.get("responded_at")
    if event.get("error_type") == "timeout" or (not chosen and "error" in event):
        decision = NO_ANSWER
    else:
        decision = APPROVED if chosen == ["Approve"] else REJECTED
    return {"task_id": task_id, "decision": decision,
            "chosen_options": chosen, "responded_by": user.get("id") if isinstance(user, Mapping) else str(user),
            "responded_at": at.isoformat() if isinstance(at, datetime) else at}


def write_approval(run_dir: Path, record: Mapping[str, Any]) -> Path:
    """Record the approval gate's decision."""
    return write_json(run_dir / APPROVAL_FILE, record)


def context_settings(ctx: RunContext) -> dict[str, Any]:
    """The settings of a run started without the trigger form (the CLI), from its run context."""
    s = ctx.settings
    return {"origin": "run context (no trigger form, no gates)", "params": {
        "transfer_id": ctx.transfer_id, "mapping_set": ctx.mapping_set, "dry_run": ctx.dry_run,
        "max_reject_rate": ctx.max_reject_rate, "as_of_date": ctx.as_of.isoformat() if ctx.as_of else "",
        "buyer_purposes": list(s.buyer_purposes), "suppression_file": str(s.suppression_file or ""),
        "reconsent_file": str(s.reconsent_file or ""), "recipient_name": s.recipient_name,
        "recipient_contact": s.recipient_contact, "notify_via_policyholder": s.notify_via_policyholder}}


def run_record(ctx: RunContext) -> dict[str, Any]:
    """reconciliation.json's `settings` and `gates` sections for this run."""
    settings = _read(ctx.run_dir / SETTINGS_FILE) or context_settings(ctx)
    approval = _read(ctx.run_dir / APPROVAL_FILE)
    if approval is None:
        approval = {"decision": "SKIPPED", "reason": "dry run: nothing is loaded"} if ctx.dry_run else None
    return {"settings": settings, "gates": {"compliance": _read(ctx.run_dir / COMPLIANCE_FILE), "approval": approval}}
