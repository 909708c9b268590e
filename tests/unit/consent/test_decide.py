"""booktransfer.consent.decide: the buyer's flags for every combination of state, role, age, restriction and
declaration, against the rules written out as one boolean formula per purpose (R01–R05, R10, R39)."""

from __future__ import annotations

import itertools
from datetime import date, datetime

import pytest

from booktransfer.consent.decide import decide, decide_all
from booktransfer.consent.model import ConsentEvent, LegalBasis, Person, Reason, Role

AS_OF = date(2026, 6, 30)
T = datetime(2024, 1, 2, 10)
ADULT = date(1980, 3, 4)
AGES = {
    "adult": ADULT,
    "fourteen-today": date(2012, 6, 30),
    "fourteen-tomorrow": date(2012, 7, 1),
    "child": date(2019, 1, 1),
    "unknown": None,
}
ROLES = {
    "none": frozenset(),
    "holder": frozenset({Role.HOLDER}),
    "insured-only": frozenset({Role.INSURED}),
    "beneficiary-only": frozenset({Role.BENEFICIARY}),
    "insured+beneficiary": frozenset({Role.INSURED, Role.BENEFICIARY}),
    "holder+insured": frozenset({Role.HOLDER, Role.INSURED}),
}
HISTORIES = {
    "granted": [("GRANTED", T)],
    "withdrawn": [("GRANTED", datetime(2020, 1, 1)), ("WITHDRAWN", T)],
    "refused": [("REFUSED", T)],
    "blank": [(None, T)],
    "unknown-code": [("9", T)],
    "no-events": [],
}
PURPOSES = ("SERVICING", "MARKETING", "THIRD_PARTY_SHARING", "SENSITIVE_DATA", "CROSS_BORDER")


def _events(purpose: str, history: str, by_guardian: bool) -> list[ConsentEvent]:
    return [ConsentEvent(purpose, a, t, event_no=f"A{i}", channel="APP", evidence_ref=f"EV{i}",
                         by_guardian=by_guardian) for i, (a, t) in enumerate(HISTORIES[history])]


def _expected_allowed(purpose, history, roles, age, restricted, declared, by_guardian) -> bool:
    """The rules as the issue states them, independent of the code's order of checks."""
    if purpose == "SERVICING":
        return declared and bool(roles)
    adult = age in ("adult", "fourteen-today")
    only_insured_or_beneficiary = bool(roles) and Role.HOLDER not in roles
    return (declared and not restricted and history == "granted" and (adult or by_guardian)
            and not (purpose == "MARKETING" and only_insured_or_beneficiary))


COMBINATIONS = list(itertools.product(PURPOSES, HISTORIES, ROLES, AGES, (False, True), (False, True), (False, True)))


def test_every_combination_gives_the_flags_the_rules_say():
    """7,200 combinations: allowed, guardian_required and legal basis match the rules; reasons are consistent."""
    assert len(COMBINATIONS) == 5 * 6 * 6 * 5 * 8
    for purpose, history, role, age, restricted, declared, by_guardian in COMBINATIONS:
        person = Person("C1", AGES[age], ROLES[role], restricted=restricted)
        d = decide(person, purpose, _events(purpose, history, by_guardian), declared, AS_OF)
        case = (purpose, history, role, age, restricted, declared, by_guardian)
        assert d.allowed is _expected_allowed(purpose, history, ROLES[role], age, restricted, declared,
                                              by_guardian), case
        assert d.guardian_required is (age not in ("adult", "fourteen-today")), case
        assert d.declared is declared
        if purpose == "SERVICING":
            assert d.legal_basis is (LegalBasis.CONTRACT if ROLES[role] else LegalBasis.NONE), case
        else:
            assert d.legal_basis is LegalBasis.CONSENT, case
        assert (d.reason in (Reason.CONSENT_GRANTED, Reason.CONTRACT)) is d.allowed, case


@pytest.mark.parametrize(("history", "reason"), [
    ("withdrawn", Reason.CONSENT_WITHDRAWN), ("refused", Reason.CONSENT_REFUSED), ("blank", Reason.CONSENT_UNKNOWN),
    ("unknown-code", Reason.CONSENT_UNKNOWN), ("no-events", Reason.CONSENT_UNKNOWN),
])
def test_unknown_is_treated_as_refused_for_every_optional_purpose(history, reason):
    """A holder with no usable grant is refused marketing, sharing, sensitive and cross-border alike."""
    person = Person("C1", ADULT, ROLES["holder"])
    for purpose in PURPOSES[1:]:
        d = decide(person, purpose, _events(purpose, history, False), True, AS_OF)
        assert (d.allowed, d.reason) == (False, reason)


def test_general_grant_never_satisfies_sensitive_or_cross_border():
    """Granted marketing and sharing leave sensitive data and cross-border (no events) refused (R03)."""
    person = Person("C1", ADULT, ROLES["holder"])
    events = _events("MARKETING", "granted", False) + _events("THIRD_PARTY_SHARING", "granted", False)
    decisions = {d.purpose: d for d in decide_all(person, PURPOSES, events, frozenset(PURPOSES), AS_OF)}
    assert decisions["MARKETING"].allowed and decisions["THIRD_PARTY_SHARING"].allowed
    assert not decisions["SENSITIVE_DATA"].allowed and not decisions["CROSS_BORDER"].allowed
    assert decisions["SENSITIVE_DATA"].reason is Reason.CONSENT_UNKNOWN


def test_beneficiary_only_gets_no_marketing_even_when_granted():
    """R39: a person who is only a beneficiary keeps the grant on record but is not allowed marketing."""
    d = decide(Person("C1", ADULT, ROLES["beneficiary-only"]), "MARKETING",
               _events("MARKETING", "granted", False), True, AS_OF)
    assert (d.state.value, d.allowed, d.reason) == ("GRANTED", False, Reason.NOT_A_POLICYHOLDER)


def test_minor_grant_needs_the_guardian():
    """A child's own grant is carried but does not allow; the guardian's grant does."""
    child = Person("C1", AGES["child"], ROLES["insured+beneficiary"])
    own = decide(child, "SENSITIVE_DATA", _events("SENSITIVE_DATA", "granted", False), True, AS_OF)
    guardian = decide(child, "SENSITIVE_DATA", _events("SENSITIVE_DATA", "granted", True), True, AS_OF)
    assert (own.allowed, own.reason, own.state.value) == (False, Reason.GUARDIAN_CONSENT_REQUIRED, "GRANTED")
    assert guardian.allowed and guardian.guardian_required


def test_no_role_no_servicing_basis():
    """A customer with no policy role has no contract to rest servicing on (R01: NO_LEGAL_BASIS)."""
    d = decide(Person("C1", ADULT, frozenset()), "SERVICING", [], True, AS_OF)
    assert (d.allowed, d.legal_basis, d.reason) == (False, LegalBasis.NONE, Reason.NO_LEGAL_BASIS)


def test_decisions_carry_the_deciding_event():
    """Event number, time, channel and evidence reference travel with the decision."""
    d = decide(Person("C1", ADULT, ROLES["holder"]), "MARKETING", _events("MARKETING", "withdrawn", False), True,
               AS_OF)
    assert (d.event.event_no, d.event.event_time, d.event.channel, d.event.evidence_ref) == ("A1", T, "APP", "EV1")
