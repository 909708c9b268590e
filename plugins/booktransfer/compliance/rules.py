"""The compliance gate's rules, pure: settings and a few facts in, findings out (REQUIREMENTS R05, R31, R32).

1. Impact assessment (PIPL Art. 55-56, R31): a PIPIA reference and its approval date are given; the approval is
   not after the run's date and not older than a year on the later of the run's date and the cut-over (as-of)
   date, so the assessment covers the day the data moves and the day it describes.
2. Purposes (PIPL Art. 22 last sentence, R05): under ART22_NOTICE and STATUTORY_ART92 the buyer may declare
   only SERVICING and the purposes the seller's consents cover, unless re-consent is recorded for a purpose
   (the consent module's own check, `booktransfer.consent.purposes`). Under ART23_SEPARATE_CONSENT every
   declared purpose, SERVICING included, needs separate consent recorded in the re-consent file, and - as the
   load cannot yet keep out each person without it - only a dry run may go ahead.
3. Cross-border (PIPL Art. 38-39, R32): no destination by default; a destination outside the mainland (Hong
   Kong, Macau and Taiwan count as outside) needs a mechanism (CAC security assessment, standard contract or
   certification) with its filing or approval reference, and CROSS_BORDER among the buyer's purposes, so that
   each person's separate cross-border consent (Art. 39) is decided like any other purpose.

Messages name settings, codes, jurisdictions and organisations, never a person or a value of the book.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from booktransfer.compliance.model import CROSS_BORDER_PURPOSE, ComplianceSettings, LegalRoute
from booktransfer.consent.model import SERVICING
from booktransfer.consent.purposes import check_buyer_purposes
from booktransfer.errors import PurposeNotPermitted

PIPIA_VALIDITY_YEARS = 1
CHECKS = ("PIPIA", "PURPOSES", "LEGAL_ROUTE", "CROSS_BORDER")


@dataclass(frozen=True)
class Finding:
    """One rule the settings break: a code, the requirement behind it, and what to do."""

    code: str
    requirement: str
    message: str

    def as_dict(self) -> dict[str, str]:
        """JSON-safe form for the run's record."""
        return {"code": self.code, "requirement": self.requirement, "message": self.message}


@dataclass(frozen=True)
class GateFacts:
    """What the rules need beyond the settings: the run's date and what the seller's consents cover."""

    run_date: date
    permitted_purposes: frozenset[str]
    reconsented_purposes: frozenset[str] = frozenset()


@dataclass(frozen=True)
class GateResult:
    """The gate's verdict: the findings (none: pass), the date the assessment was checked on, its expiry."""

    findings: tuple[Finding, ...]
    check_date: date
    pipia_valid_until: date | None

    @property
    def ok(self) -> bool:
        """Whether every rule holds."""
        return not self.findings

    def message(self) -> str:
        """Every finding on one line each, numbered: what the failure callback and the task log show."""
        lines = [f"({i}) {f.code} [{f.requirement}]: {f.message}" for i, f in enumerate(self.findings, start=1)]
        return f"{len(self.findings)} problem(s); nothing was extracted or loaded: " + " ".join(lines)

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe form for the run's record."""
        return {"verdict": "PASS" if self.ok else "FAIL", "checks": list(CHECKS),
                "check_date": self.check_date.isoformat(),
                "pipia_valid_until": self.pipia_valid_until.isoformat() if self.pipia_valid_until else None,
                "findings": [f.as_dict() for f in self.findings]}


def pipia_valid_until(approved_on: date) -> date:
    """The last day an assessment approved on `approved_on` is current: the same day a year later (29 Feb: 28 Feb)."""
    year = approved_on.year + PIPIA_VALIDITY_YEARS
    try:
        return approved_on.replace(year=year)
    except ValueError:
        return approved_on.replace(year=year, day=28)


def check_date(settings: ComplianceSettings, run_date: date) -> date:
    """The day the assessment must still be current on: the later of the run's date and the as-of date."""
    return max(run_date, settings.as_of) if settings.as_of else run_date


def check_impact_assessment(settings: ComplianceSettings, run_date: date) -> list[Finding]:
    """R31: a PIPIA reference and approval date, approved by the run's date and at most a year old."""
    out = []
    if not settings.pipia_reference:
        out.append(Finding("PIPIA_MISSING", "R31", "no impact assessment (PIPIA) reference: PIPL Art. 55 requires "
                           "an assessment before personal information is provided to another processor; enter "
                           "pipia_reference (and pipia_approved_on) in the Compliance section"))
    approved = settings.pipia_approved_on
    if approved is None:
        out.append(Finding("PIPIA_DATE_MISSING", "R31", "no approval date for the impact assessment: enter "
                           "pipia_approved_on (YYYY-MM-DD) in the Compliance section"))
        return out
    if approved > run_date:
        out.append(Finding("PIPIA_NOT_YET_APPROVED", "R31", f"the impact assessment is approved on "
                           f"{approved.isoformat()}, after the run's date {run_date.isoformat()}: run the transfer "
                           "once it is approved, or correct pipia_approved_on"))
    on = check_date(settings, run_date)
    until = pipia_valid_until(approved)
    if on > until:
        what = "the cut-over (as-of) date" if settings.as_of and settings.as_of > run_date else "the run's date"
        out.append(Finding("PIPIA_EXPIRED", "R31", f"the impact assessment approved on {approved.isoformat()} is "
                           f"older than {PIPIA_VALIDITY_YEARS} year on {what} {on.isoformat()} (current until "
                           f"{until.isoformat()}): have it reviewed and approved again, then enter the new "
                           "reference and date"))
    return out


def check_purposes(settings: ComplianceSettings, facts: GateFacts) -> list[Finding]:
    """R05: the buyer's purposes against what the legal route permits (see the module doc)."""
    if settings.legal_route is LegalRoute.ART23_SEPARATE_CONSENT:
        return _separate_consent(settings, facts)
    try:
        check_buyer_purposes(settings.buyer_purposes, facts.permitted_purposes, facts.reconsented_purposes)
    except PurposeNotPermitted as e:
        return [Finding("PURPOSE_NOT_PERMITTED", "R05", f"legal route {settings.legal_route}: {e}")]
    return []


def _separate_consent(settings: ComplianceSettings, facts: GateFacts) -> list[Finding]:
    route = LegalRoute.ART23_SEPARATE_CONSENT
    if not settings.reconsent_file_given:
        return [Finding("SEPARATE_CONSENT_MISSING", "R05", f"legal route {route} needs every person's separate "
                        "consent to the provision before the load: name the re-consent file that records it "
                        "(Consent, requests and notices section), or choose the route counsel decided on")]
    out = []
    uncovered = sorted({*settings.buyer_purposes, SERVICING} - facts.reconsented_purposes)
    if uncovered:
        out.append(Finding("SEPARATE_CONSENT_MISSING", "R05", f"legal route {route}: the re-consent file records "
                           f"no separate consent for {', '.join(uncovered)}; every purpose the buyer declares "
                           "(SERVICING too) needs it"))
    if not settings.dry_run:
        out.append(Finding("ROUTE_NOT_SUPPORTED", "R05", f"legal route {route}: the load cannot yet keep out each "
                           "person without separate consent, so only a dry run may use this route; load under "
                           f"{LegalRoute.ART22_NOTICE} or {LegalRoute.STATUTORY_ART92} if counsel allows it"))
    return out


def check_cross_border(settings: ComplianceSettings) -> list[Finding]:
    """R32: every destination outside the mainland names a mechanism and its reference; CROSS_BORDER declared."""
    outside = [d for d in settings.destinations if not d.mainland]
    out = []
    for d in outside:
        if d.mechanism is None:
            out.append(Finding("CROSS_BORDER_NO_MECHANISM", "R32", f"destination {d.label()} is outside the "
                               "mainland (Hong Kong, Macau and Taiwan count as outside) and names no PIPL Art. 38 "
                               "mechanism: give CAC_SECURITY_ASSESSMENT, STANDARD_CONTRACT or CERTIFICATION with "
                               "its reference, or remove the destination"))
        elif not d.reference:
            out.append(Finding("CROSS_BORDER_NO_REFERENCE", "R32", f"destination {d.label()}: mechanism "
                               f"{d.mechanism} without its filing or approval reference; enter the reference"))
    if outside and CROSS_BORDER_PURPOSE not in settings.buyer_purposes:
        out.append(Finding("CROSS_BORDER_NOT_DECLARED", "R32", f"{len(outside)} destination(s) outside the "
                           f"mainland but {CROSS_BORDER_PURPOSE} is not among the buyer's purposes: PIPL Art. 39 "
                           "needs each person's separate consent; declare it so consent decides per person"))
    return out


def evaluate(settings: ComplianceSettings, facts: GateFacts) -> GateResult:
    """Run every rule; the result lists all findings at once, so one correction round fixes the settings."""
    findings = [*check_impact_assessment(settings, facts.run_date), *check_purposes(settings, facts),
                *check_cross_border(settings)]
    approved = settings.pipia_approved_on
    return GateResult(tuple(findings), check_date(settings, facts.run_date),
                      pipia_valid_until(approved) if approved else None)
