"""booktransfer.consent.resolve: the latest event wins, withdrawal wins ties, nothing unknown is ever a grant.

A hand-written truth table first (the rules as an auditor reads them), then properties checked over every
sequence of up to three events drawn from every kind of event the records can hold.
"""

from __future__ import annotations

import itertools
from datetime import datetime

import pytest

from booktransfer.consent.model import ConsentEvent, ConsentState
from booktransfer.consent.resolve import resolve_state

G, W, R, U = ConsentState.GRANTED, ConsentState.WITHDRAWN, ConsentState.REFUSED, ConsentState.UNKNOWN
P, OTHER = "MARKETING", "SENSITIVE_DATA"
T1, T2, T3 = datetime(2019, 5, 1, 9), datetime(2020, 5, 1, 9), datetime(2022, 5, 1, 9)


def ev(action: str | None, time: datetime | None, purpose: str | None = P, **kw) -> ConsentEvent:
    """One event; `action` is the buyer-side value (or anything a record might hold)."""
    return ConsentEvent(purpose=purpose, action=action, event_time=time, event_no=f"E{id(kw)}", **kw)


TRUTH_TABLE = [
    # (description, events, expected state)
    ("no event at all", [], U),
    ("one grant", [ev("GRANTED", T1)], G),
    ("one withdrawal", [ev("WITHDRAWN", T1)], W),
    ("one refusal", [ev("REFUSED", T1)], R),
    ("grant then withdrawal", [ev("GRANTED", T1), ev("WITHDRAWN", T2)], W),
    ("withdrawal then grant again", [ev("WITHDRAWN", T1), ev("GRANTED", T2)], G),
    ("refusal then grant", [ev("REFUSED", T1), ev("GRANTED", T2)], G),
    ("grant then refusal", [ev("GRANTED", T1), ev("REFUSED", T2)], R),
    ("R04: grant 2019, withdrawal 2022, stale-copy grant dated 2020", [
        ev("GRANTED", T1), ev("WITHDRAWN", T3), ev("GRANTED", T2)], W),
    ("grant and withdrawal at the same second: withdrawal wins", [ev("GRANTED", T2), ev("WITHDRAWN", T2)], W),
    ("withdrawal listed first, same second: still withdrawal", [ev("WITHDRAWN", T2), ev("GRANTED", T2)], W),
    ("refusal and grant at the same second: refusal wins", [ev("GRANTED", T2), ev("REFUSED", T2)], R),
    ("withdrawal and refusal at the same second: withdrawal wins", [ev("REFUSED", T2), ev("WITHDRAWN", T2)], W),
    ("blank action alone", [ev(None, T1)], U),
    ("unknown code alone ('1' is not GRANTED)", [ev("1", T1)], U),
    ("lower-case 'granted' is not inferred", [ev("granted", T1)], U),
    ("grant, then an event with an unknown code", [ev("GRANTED", T1), ev("Y", T2)], U),
    ("grant, then a blank action at the same second", [ev("GRANTED", T2), ev(None, T2)], U),
    ("unknown code, then a grant", [ev("Y", T1), ev("GRANTED", T2)], G),
    ("grant, then an undated unknown code", [ev("GRANTED", T2), ev("Y", None)], U),
    ("an undated grant is not relied on", [ev("GRANTED", None)], U),
    ("an undated withdrawal stands after any grant", [ev("GRANTED", T3), ev("WITHDRAWN", None)], W),
    ("an undated refusal stands after any grant", [ev("GRANTED", T3), ev("REFUSED", None)], R),
    ("an undated withdrawal beats a dated refusal", [ev("REFUSED", T3), ev("WITHDRAWN", None)], W),
    ("a dated withdrawal beats an undated refusal", [ev("WITHDRAWN", T1), ev("REFUSED", None)], W),
    ("a quarantined grant is never relied on", [ev("GRANTED", T1, quarantined=True)], U),
    ("a quarantined later grant does not reopen a withdrawal", [
        ev("WITHDRAWN", T1), ev("GRANTED", T2, quarantined=True)], W),
    ("a quarantined later withdrawal still counts", [ev("GRANTED", T1), ev("WITHDRAWN", T2, quarantined=True)], W),
    ("a quarantined earlier withdrawal does not undo a later grant", [
        ev("WITHDRAWN", T1, quarantined=True), ev("GRANTED", T2)], G),
    ("grant of another purpose does not count (separate consent)", [ev("GRANTED", T1, purpose=OTHER)], U),
    ("withdrawal of another purpose does not touch this one", [
        ev("GRANTED", T1), ev("WITHDRAWN", T2, purpose=OTHER)], G),
    ("withdrawal of an unknown purpose after the grant: doubt", [ev("GRANTED", T1), ev("WITHDRAWN", T2, purpose=None)],
     U),
    ("withdrawal of an unknown purpose before the grant: no doubt", [
        ev("WITHDRAWN", T1, purpose=None), ev("GRANTED", T2)], G),
    ("grant of an unknown purpose grants nothing", [ev("GRANTED", T1, purpose=None)], U),
    ("grant of an unknown purpose does not disturb a grant", [ev("GRANTED", T1), ev("GRANTED", T2, purpose=None)], G),
    ("undated event of unknown purpose and action after a grant: doubt", [
        ev("GRANTED", T1), ev(None, None, purpose=None)], U),
    ("re-consent grant after a seller withdrawal", [ev("WITHDRAWN", T1), ev("GRANTED", T2, source="RECONSENT")], G),
]


@pytest.mark.parametrize(("events", "expected"), [pytest.param(e, s, id=d) for d, e, s in TRUTH_TABLE])
def test_truth_table(events, expected):
    """Each row of the table gives the state the rules say."""
    state, _ = resolve_state(events, P)
    assert state is expected


def test_deciding_event_is_returned_with_its_evidence():
    """The state names the event that decided it, with time, channel and evidence reference."""
    decisive = ConsentEvent(P, "WITHDRAWN", T2, event_no="A2", channel="PHONE", evidence_ref="EV2", source_line=7)
    state, event = resolve_state([ConsentEvent(P, "GRANTED", T1, event_no="A1"), decisive], P)
    assert state is W
    assert (event.event_no, event.channel, event.evidence_ref, event.source_line) == ("A2", "PHONE", "EV2", 7)


def test_doubtful_event_is_named_when_it_makes_the_state_unknown():
    """When a later unreadable event turns a grant into UNKNOWN, that event is the one named (for the auditor)."""
    doubt = ConsentEvent(P, None, T2, event_no="A9", source_line=12, quarantined=True)
    state, event = resolve_state([ConsentEvent(P, "GRANTED", T1, event_no="A1"), doubt], P)
    assert (state, event.event_no) == (U, "A9")


# ---------- properties over every short sequence of every kind of event

KINDS = {
    "grant": dict(action="GRANTED"),
    "withdraw": dict(action="WITHDRAWN"),
    "refuse": dict(action="REFUSED"),
    "blank": dict(action=None),
    "unknown-code": dict(action="ZZ"),
    "q-grant": dict(action="GRANTED", quarantined=True),
    "q-withdraw": dict(action="WITHDRAWN", quarantined=True),
    "anypurpose-withdraw": dict(action="WITHDRAWN", purpose=None),
    "anypurpose-grant": dict(action="GRANTED", purpose=None),
    "other-grant": dict(action="GRANTED", purpose=OTHER),
    "other-withdraw": dict(action="WITHDRAWN", purpose=OTHER),
}
TIMES = (T1, T2, None)


def _event(kind: str, time: datetime | None, n: int) -> ConsentEvent:
    spec = {"purpose": P, **KINDS[kind]}
    return ConsentEvent(spec.pop("purpose"), spec.pop("action"), time, event_no=f"E{n}", **spec)


def _sequences(max_len: int = 3):
    alphabet = list(itertools.product(KINDS, TIMES))
    for n in range(1, max_len + 1):
        for combo in itertools.combinations_with_replacement(alphabet, n):
            yield [_event(k, t, i) for i, (k, t) in enumerate(combo)]


def _reliable_grant(e: ConsentEvent) -> bool:
    return e.purpose == P and e.action == "GRANTED" and not e.quarantined and e.event_time is not None


def _may_revoke(e: ConsentEvent) -> bool:
    """An event that is (or might be) a withdrawal or refusal of P."""
    if e.purpose not in (P, None):
        return False
    return e.action != "GRANTED" or (e.purpose == P and e.action is None)


def test_granted_only_with_a_reliable_grant_that_nothing_can_have_revoked():
    """GRANTED iff some dated, unquarantined grant of P has no possible revocation at or after it (or undated)."""
    for events in _sequences():
        state, decided_by = resolve_state(events, P)
        grants = [e for e in events if _reliable_grant(e)]
        unrevoked = [g for g in grants if not any(
            _may_revoke(o) and (o.event_time is None or o.event_time >= g.event_time) for o in events)]
        expected_granted = bool(unrevoked) and max(g.event_time for g in grants) == max(
            g.event_time for g in unrevoked)
        assert (state is G) == expected_granted, events
        if state is G:
            assert _reliable_grant(decided_by)


def test_order_of_the_records_does_not_matter():
    """The same events in any order give the same state."""
    for events in _sequences():
        expected = resolve_state(events, P)[0]
        for perm in itertools.permutations(events):
            assert resolve_state(list(perm), P)[0] is expected, events


def test_other_purposes_never_change_the_state():
    """Adding any known event of another purpose leaves this purpose's state as it was."""
    for events in _sequences(2):
        before = resolve_state(events, P)[0]
        for kind in ("other-grant", "other-withdraw"):
            for t in TIMES:
                assert resolve_state([*events, _event(kind, t, 99)], P)[0] is before


def test_a_later_withdrawal_always_ends_a_grant():
    """Whatever came before, a withdrawal dated after every other event leaves the purpose WITHDRAWN."""
    late = datetime(2030, 1, 1)
    for events in _sequences():
        assert resolve_state([*events, ConsentEvent(P, "WITHDRAWN", late)], P)[0] is W


def test_nothing_but_a_reliable_grant_can_turn_a_state_into_granted():
    """Adding one event that is not a reliable grant of P never upgrades a state to GRANTED."""
    for events in _sequences(2):
        before = resolve_state(events, P)[0]
        for kind, t in itertools.product(KINDS, TIMES):
            extra = _event(kind, t, 99)
            if _reliable_grant(extra):
                continue
            after = resolve_state([*events, extra], P)[0]
            assert not (after is G and before is not G), (events, extra)
