"""What the approval gate shows an operator before the load: counts, reason codes and the compliance verdict.

Built from the run's own records (validation.json, load/plan.json, protect.json, compliance.json) as Markdown
for Airflow's human-in-the-loop page. Counts, entity and table names, reason codes, purposes and file names
only: never a field value, a token or a source line of a person.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from booktransfer.operations.record import COMPLIANCE_FILE

if TYPE_CHECKING:
    from booktransfer.pipeline import RunContext

VALIDATION_FILE, PLAN_FILE, PROTECT_FILE = "validation.json", "load/plan.json", "protect.json"


def _pct(share: float | None) -> str:
    return "n/a" if share is None else f"{share:.2%}"


def validation_section(validation: dict[str, Any] | None) -> list[str]:
    """Per entity: rows in, valid, quarantined (own defect / cascade), merged, reject rate; reasons by code."""
    if not validation:
        return ["### Validation", "", "No validation summary found: the validate stage did not finish."]
    out = ["### Validation", "",
           "| entity | source rows | valid | quarantined (own / cascade) | merged | reject rate |",
           "|---|---:|---:|---:|---:|---:|"]
    entities = validation.get("entities", {})
    for entity, s in entities.items():
        out.append(f"| {entity} | {s.get('source_rows')} | {s.get('rows_valid')} | {s.get('rows_quarantined')} "
                   f"({s.get('rows_quarantined_primary', 0) + s.get('map_rejected', 0)} / "
                   f"{s.get('rows_quarantined_cascade', 0)}) | {s.get('rows_merged', 0)} | "
                   f"{_pct(s.get('reject_rate'))} |")
    over = validation.get("over_threshold") or []
    out += ["", f"Maximum reject rate {_pct(validation.get('max_reject_rate'))}; over it: "
                f"{', '.join(over) if over else 'none'}.", "", "**Reject reasons** (rows per code):", ""]
    for entity, s in entities.items():
        reasons = sorted((s.get("rejects_by_reason") or {}).items(), key=lambda r: (-r[1], r[0]))
        listed = ", ".join(f"`{code}` {n}" for code, n in reasons)
        out.append(f"- {entity}: {listed or 'none'}")
    return out


def plan_section(plan: dict[str, Any] | None) -> list[str]:
    """What the load would write: rows per table, data-subject requests, consent and notices (counts)."""
    if not plan:
        return ["### Load plan", "", "No load plan found: the target was not checked."]
    summary = plan.get("summary", {})
    out = ["### Load plan", "", "| table | rows to load |", "|---|---:|"]
    out += [f"| {table} | {rows} |" for table, rows in summary.get("rows", {}).items()]
    requests = summary.get("data_subject_requests", {})
    consent = summary.get("consent", {})
    notices = summary.get("notices", {})
    out += ["",
            f"- Buyer's purposes: {', '.join(summary.get('buyer_purposes', []))}; permitted by the seller's "
            f"consents: {', '.join(summary.get('permitted_purposes', []))}; re-consented: "
            f"{', '.join(summary.get('reconsented_purposes', [])) or 'none'}.",
            f"- Data-subject requests: {requests.get('requests', 0)}; persons left out "
            f"{requests.get('persons_suppressed', 0)}, kept under a retention hold {requests.get('persons_held', 0)}, "
            f"matching no one {requests.get('requests_matching_no_loaded_person', 0)}.",
            f"- Consent decided for {consent.get('persons', 0)} person(s); guardian consent required for "
            f"{consent.get('guardian_required', 0)}.",
            f"- Notices (PIPL Art. 22): {notices.get('rows', 0)}; by status "
            + (", ".join(f"{k} {v}" for k, v in (notices.get("by_status") or {}).items()) or "none") + "."]
    return out


def protection_section(protect: dict[str, Any] | None) -> list[str]:
    """Identifiers found in fields kept in clear (by column and kind, counted)."""
    findings = (protect or {}).get("identifier_findings", [])
    if not findings:
        return ["### Protection", "", "No ID number or mobile found in fields kept in clear."]
    return ["### Protection", "", f"**{len(findings)} finding(s)** of identifiers in fields kept in clear:", ""] + [
        f"- {f.get('entity')}.{f.get('column')}: {f.get('kind')} in {f.get('rows')} row(s)" for f in findings]


def compliance_section(compliance: dict[str, Any] | None) -> list[str]:
    """The compliance gate's verdict and what it checked."""
    if not compliance:
        return ["### Compliance gate", "", "No compliance record found."]
    pipia = compliance.get("pipia") or {}
    outside = [d for d in compliance.get("destinations", []) if not d.get("mainland")]
    where = ", ".join(f"{d['jurisdiction']} ({d['mechanism']} {d['reference']})" for d in outside) or "none"
    return ["### Compliance gate", "",
            f"{compliance.get('verdict')}: legal route {compliance.get('legal_route')}; impact assessment "
            f"{pipia.get('reference')} approved {pipia.get('approved_on')}, current until "
            f"{compliance.get('pipia_valid_until')}; destinations outside the mainland: {where}."]


def redacted_url(url: str) -> str:
    """A database URL with any password hidden."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _read(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def approval_page(ctx: RunContext, target: str) -> tuple[str, str]:
    """The approval page of this run: its headline and its Markdown body, from the run's records."""
    from booktransfer.load.stage import read_plan_summary

    plan = read_plan_summary(ctx)  # the book's decisions with every partition's counts
    rows = sum((plan or {}).get("summary", {}).get("rows", {}).values())
    subject = f"Load transfer {ctx.transfer_id} into the buyer's database" + (f" ({rows} rows)?" if rows else "?")
    parts = [f"Transfer **{ctx.transfer_id}**, run `{ctx.run_id}`, into `{target}`.", "",
             "**Approve** writes the buyer's tables (one transaction per table; the reconciliation then proves "
             "every source row loaded or quarantined). **Reject** loads nothing and fails the run.", "",
             *validation_section(_read(ctx.run_dir / VALIDATION_FILE)), "", *plan_section(plan), "",
             *protection_section(_read(ctx.run_dir / PROTECT_FILE)), "",
             *compliance_section(_read(ctx.run_dir / COMPLIANCE_FILE)), "",
             f"Quarantine and Data Docs: `{ctx.report_dir}`."]
    return subject, "\n".join(parts)
