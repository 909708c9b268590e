"""The compliance gate of a run: gather the facts, apply the rules, record the verdict, stop the run if it fails.

The facts: the purposes the seller's consents cover (SERVICING and the mapping's consent purpose code table, as
the load stage's own check uses them) and the purposes the re-consent file records. The gate writes the run's
`settings.json` and `compliance.json` (see booktransfer.operations.record) before it decides, so a refused run
leaves its reason on record too.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from booktransfer.compliance.model import ComplianceSettings
from booktransfer.compliance.rules import GateFacts, GateResult, evaluate
from booktransfer.errors import ComplianceGateFailed
from booktransfer.load.settings import SELLER_TIMEZONE
from booktransfer.operations.record import COMPLIANCE_FILE, write_json, write_settings

if TYPE_CHECKING:
    from booktransfer.mapping.loader import MappingSet
    from booktransfer.pipeline import RunContext

CONSENTS = "consents"

log = logging.getLogger(__name__)


def run_day(moment: datetime) -> date:
    """The run's date: its logical date (or, without one, when it was triggered) in Beijing time."""
    return moment.astimezone(SELLER_TIMEZONE).date()


def mapping_consent_purposes(mapping: MappingSet) -> set[str]:
    """The purposes the seller records consent for, as its mapping declares them: the values of the code table
    the consents' `purpose` field is looked up in (what the load stage's own check starts from, before it adds
    any other purpose found in the loaded events)."""
    spec = mapping.entities.get(CONSENTS)
    purpose = next((f for f in spec.fields if f.target == "purpose"), None) if spec else None
    if purpose is None or not purpose.lookup:
        return set()
    return set(mapping.codes[purpose.lookup].values.values())


def gate_facts(ctx: RunContext, run_date: date) -> GateFacts:
    """What the seller's consents permit (from the mapping) and what the re-consent file records."""
    from booktransfer.consent.purposes import permitted_purposes
    from booktransfer.load.consent_events import read_reconsent

    permitted = permitted_purposes(mapping_consent_purposes(ctx.load_mapping()))
    reconsented: frozenset[str] = frozenset()
    if ctx.settings.reconsent_file is not None:
        events = read_reconsent(ctx.settings.reconsent_file)
        reconsented = frozenset(e.purpose for person in events.values() for e in person if e.purpose)
    return GateFacts(run_date, permitted, reconsented)


def record(result: GateResult, settings: ComplianceSettings, facts: GateFacts) -> dict[str, Any]:
    """compliance.json: the verdict, the checks, the findings, and what they were checked against."""
    return {**result.as_dict(), "run_date": facts.run_date.isoformat(),
            "legal_route": settings.legal_route.value,
            "pipia": {"reference": settings.pipia_reference,
                      "approved_on": settings.pipia_approved_on.isoformat() if settings.pipia_approved_on else None},
            "buyer_purposes": list(settings.buyer_purposes),
            "permitted_purposes": sorted(facts.permitted_purposes),
            "reconsented_purposes": sorted(facts.reconsented_purposes),
            "destinations": [d.as_dict() for d in settings.destinations]}


def check_settings(params: Mapping[str, Any], run_date: date, home: Path | None = None) -> GateResult:
    """The gate's verdict on a conf without running anything or writing a record (`booktransfer settings render
    --check`); relative file paths are read from `home` (default: the project folder)."""
    from booktransfer.load.settings import TransferSettings
    from booktransfer.pipeline import RunContext, project_home

    root = home or project_home()
    ctx = RunContext(transfer_id=str(params.get("transfer_id") or "check"), run_id="settings-check",
                     mapping_set=str(params.get("mapping_set") or ""), target_url="", home=root,
                     settings=TransferSettings.from_params(params, root))
    return evaluate(ComplianceSettings.from_params(params), gate_facts(ctx, run_date))


def run_gate(ctx: RunContext, params: Mapping[str, Any], run_date: date) -> dict[str, Any]:
    """Check the run's settings; record them and the verdict; raise ComplianceGateFailed listing every finding.

    Returns the verdict with counts and codes only (safe for XCom).
    """
    write_settings(ctx.run_dir, params)
    settings = ComplianceSettings.from_params(params)
    facts = gate_facts(ctx, run_date)
    result = evaluate(settings, facts)
    write_json(ctx.run_dir / COMPLIANCE_FILE, record(result, settings, facts))
    if not result.ok:
        raise ComplianceGateFailed(result.message())
    log.info("compliance gate: PASS (route %s, PIPIA %s current until %s, %d destination(s))",
             settings.legal_route, settings.pipia_reference, result.pipia_valid_until, len(settings.destinations))
    return {"stage": "compliance_gate", "verdict": "PASS", "legal_route": settings.legal_route.value,
            "pipia_valid_until": result.pipia_valid_until.isoformat() if result.pipia_valid_until else None,
            "destinations": len(settings.destinations)}
