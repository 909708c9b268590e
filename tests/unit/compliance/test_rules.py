"""booktransfer.compliance.rules: the gate's rules on settings alone (impact assessment, purposes, route, borders)."""

from __future__ import annotations

from datetime import date

import pytest

from booktransfer.compliance.model import ComplianceSettings, Destination, LegalRoute, Mechanism
from booktransfer.compliance.rules import (
    GateFacts,
    check_cross_border,
    check_impact_assessment,
    check_purposes,
    evaluate,
    pipia_valid_until,
)
from booktransfer.consent.purposes import permitted_purposes

RUN = date(2026, 7, 1)
SELLER = permitted_purposes(["MARKETING", "THIRD_PARTY_SHARING", "SENSITIVE_DATA", "CROSS_BORDER"])
PURPOSES = ("SERVICING", "MARKETING")


def settings(**kw) -> ComplianceSettings:
    base = {"pipia_reference": "PIPIA-2026-014", "pipia_approved_on": date(2026, 3, 1), "buyer_purposes": PURPOSES}
    return ComplianceSettings(**{**base, **kw})


def codes(findings) -> list[str]:
    return [f.code for f in findings]


def test_a_current_assessment_and_the_sellers_purposes_pass():
    """The ordinary transfer: assessment approved four months ago, seller's purposes, no destination."""
    result = evaluate(settings(), GateFacts(RUN, SELLER))
    assert result.ok and result.findings == ()
    assert result.pipia_valid_until == date(2027, 3, 1) and result.check_date == RUN
    assert result.as_dict()["verdict"] == "PASS"


@pytest.mark.parametrize(("reference", "approved", "expected"), [
    ("", date(2026, 3, 1), ["PIPIA_MISSING"]),
    ("PIPIA-1", None, ["PIPIA_DATE_MISSING"]),
    ("", None, ["PIPIA_MISSING", "PIPIA_DATE_MISSING"]),
])
def test_a_missing_assessment_or_date_fails(reference, approved, expected):
    """No reference, no approval date: both named, each with what to enter."""
    findings = check_impact_assessment(settings(pipia_reference=reference, pipia_approved_on=approved), RUN)
    assert codes(findings) == expected
    assert all(f.requirement == "R31" and "Compliance section" in f.message for f in findings)


@pytest.mark.parametrize(("approved", "ok"), [
    (date(2025, 7, 1), True),     # exactly a year before the run: still current
    (date(2025, 6, 30), False),   # a year and a day
    (date(2026, 7, 1), True),     # approved on the run's day
])
def test_the_assessment_is_current_for_one_year(approved, ok):
    """Older than a year on the run's date fails; a year to the day is still current."""
    findings = check_impact_assessment(settings(pipia_approved_on=approved), RUN)
    assert (codes(findings) == []) is ok
    if not ok:
        assert codes(findings) == ["PIPIA_EXPIRED"]
        assert "2025-06-30" in findings[0].message and "2026-06-30" in findings[0].message


def test_an_assessment_approved_after_the_run_date_is_not_yet_valid():
    """An approval dated tomorrow is refused: the data would move before the assessment exists."""
    assert codes(check_impact_assessment(settings(pipia_approved_on=date(2026, 7, 2)), RUN)) == \
        ["PIPIA_NOT_YET_APPROVED"]


def test_a_later_cut_over_date_must_also_be_covered():
    """A rehearsal now for a cut-over after the assessment expires fails now, naming the cut-over date."""
    findings = check_impact_assessment(settings(pipia_approved_on=date(2025, 9, 1), as_of=date(2026, 10, 1)), RUN)
    assert codes(findings) == ["PIPIA_EXPIRED"]
    assert "cut-over" in findings[0].message and "2026-10-01" in findings[0].message
    assert check_impact_assessment(settings(pipia_approved_on=date(2025, 9, 1), as_of=date(2026, 1, 1)), RUN) == []


def test_a_leap_day_approval_expires_on_the_28th():
    """29 Feb 2028 approved: current until 28 Feb 2029."""
    assert pipia_valid_until(date(2028, 2, 29)) == date(2029, 2, 28)


@pytest.mark.parametrize("route", [LegalRoute.ART22_NOTICE, LegalRoute.STATUTORY_ART92])
def test_a_purpose_beyond_the_sellers_consents_fails_under_notice_routes(route):
    """R05: CROSS_SELL was never consented to: the gate names it and says how to fix it."""
    findings = check_purposes(settings(legal_route=route, buyer_purposes=("SERVICING", "CROSS_SELL")),
                              GateFacts(RUN, SELLER))
    assert codes(findings) == ["PURPOSE_NOT_PERMITTED"]
    assert "CROSS_SELL" in findings[0].message and route in findings[0].message
    assert "re-consent" in findings[0].message


def test_a_reconsented_purpose_passes():
    """A re-consent file recording CROSS_SELL events lets the buyer declare it."""
    facts = GateFacts(RUN, SELLER, frozenset({"CROSS_SELL"}))
    assert check_purposes(settings(buyer_purposes=("SERVICING", "CROSS_SELL")), facts) == []


def test_separate_consent_route_needs_the_consent_file():
    """ART23 without a re-consent file: refused, whatever the purposes."""
    findings = check_purposes(settings(legal_route=LegalRoute.ART23_SEPARATE_CONSENT, dry_run=True),
                              GateFacts(RUN, SELLER))
    assert codes(findings) == ["SEPARATE_CONSENT_MISSING"]


def test_separate_consent_route_needs_every_purpose_covered_and_loads_only_as_a_dry_run():
    """ART23: SERVICING and MARKETING need separate consent; a real load is refused in this version."""
    route = LegalRoute.ART23_SEPARATE_CONSENT
    partial = GateFacts(RUN, SELLER, frozenset({"MARKETING"}))
    findings = check_purposes(settings(legal_route=route, reconsent_file_given=True), partial)
    assert codes(findings) == ["SEPARATE_CONSENT_MISSING", "ROUTE_NOT_SUPPORTED"]
    assert "SERVICING" in findings[0].message and "MARKETING" not in findings[0].message.split("for ")[1]
    covered = GateFacts(RUN, SELLER, frozenset({"MARKETING", "SERVICING"}))
    assert check_purposes(settings(legal_route=route, reconsent_file_given=True, dry_run=True), covered) == []


@pytest.mark.parametrize("code", ["HK", "MO", "TW", "CN-HK", "CN-MO", "CN-TW", "SG", "DE"])
def test_a_destination_outside_the_mainland_needs_a_mechanism(code):
    """R32: Hong Kong, Macau and Taiwan count as outside, whichever way they are written."""
    findings = check_cross_border(settings(destinations=(Destination(code, "Buyer Group Ltd"),),
                                           buyer_purposes=("SERVICING", "CROSS_BORDER")))
    assert codes(findings) == ["CROSS_BORDER_NO_MECHANISM"]
    assert code in findings[0].message and "Buyer Group Ltd" in findings[0].message


@pytest.mark.parametrize("code", ["CN", "CN-SH", "CN-44"])
def test_mainland_destinations_need_nothing(code):
    """A destination in the mainland is not cross-border."""
    assert Destination(code, "Buyer DR site").mainland
    assert check_cross_border(settings(destinations=(Destination(code, "Buyer DR site"),))) == []


def test_a_named_mechanism_needs_its_reference_and_the_cross_border_purpose():
    """A mechanism without its filing reference, and CROSS_BORDER not declared: two findings."""
    hk = Destination("HK", "Buyer Group (HK) Ltd", Mechanism.STANDARD_CONTRACT)
    assert codes(check_cross_border(settings(destinations=(hk,)))) == \
        ["CROSS_BORDER_NO_REFERENCE", "CROSS_BORDER_NOT_DECLARED"]
    filed = Destination("HK", "Buyer Group (HK) Ltd", Mechanism.STANDARD_CONTRACT, "SC-2026-001")
    assert check_cross_border(settings(destinations=(filed,), buyer_purposes=("SERVICING", "CROSS_BORDER"))) == []


def test_every_finding_is_reported_at_once():
    """One message lists all problems, numbered, so one round of corrections fixes the form."""
    bad = settings(pipia_reference="", buyer_purposes=("SERVICING", "CROSS_SELL"),
                   destinations=(Destination("HK", "Buyer Group Ltd"),))
    result = evaluate(bad, GateFacts(RUN, SELLER))
    assert codes(result.findings) == ["PIPIA_MISSING", "PURPOSE_NOT_PERMITTED", "CROSS_BORDER_NO_MECHANISM",
                                      "CROSS_BORDER_NOT_DECLARED"]
    message = result.message()
    assert message.startswith("4 problem(s)") and "(4) CROSS_BORDER_NOT_DECLARED [R32]" in message
    assert result.as_dict()["verdict"] == "FAIL"
