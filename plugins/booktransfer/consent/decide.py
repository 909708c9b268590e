"""What the buyer may do with a person's data for each purpose (REQUIREMENTS R01–R05, R10, R39).

SERVICING rests on the contract: allowed for anyone with a role on a loaded policy, for no one else.
Every other purpose rests on consent and is allowed only when all of these hold, checked in this order
(the first that fails is the reason): the buyer declared the purpose; the person's processing is not
restricted (a data-subject request under a retention hold); for MARKETING, the person is a policyholder
(persons who are only insured or beneficiaries never get marketing); the state is GRANTED (UNKNOWN counts as
refused); and for a person under 14 or of unknown age, the grant came from the guardian.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

from booktransfer.consent.age import needs_guardian
from booktransfer.consent.model import (
    MARKETING,
    SERVICING,
    ConsentEvent,
    ConsentState,
    Decision,
    LegalBasis,
    Person,
    Reason,
)
from booktransfer.consent.resolve import resolve_state

_GRANTED = ConsentState.GRANTED
_NOT_GRANTED = {ConsentState.WITHDRAWN: Reason.CONSENT_WITHDRAWN, ConsentState.REFUSED: Reason.CONSENT_REFUSED,
                ConsentState.UNKNOWN: Reason.CONSENT_UNKNOWN}
# Enum members looked up once (attribute access on an enum class is slow at a million decisions).
_CONTRACT, _CONSENT, _NO_BASIS = LegalBasis.CONTRACT, LegalBasis.CONSENT, LegalBasis.NONE
_NOT_DECLARED, _RESTRICTED = Reason.NOT_DECLARED, Reason.PROCESSING_RESTRICTED
_NOT_HOLDER, _GUARDIAN, _OK = Reason.NOT_A_POLICYHOLDER, Reason.GUARDIAN_CONSENT_REQUIRED, Reason.CONSENT_GRANTED


def _servicing(person: Person, declared: bool) -> tuple[LegalBasis, bool, Reason]:
    basis = _CONTRACT if person.roles else _NO_BASIS
    if not declared:
        return basis, False, _NOT_DECLARED
    if basis is _NO_BASIS:
        return basis, False, Reason.NO_LEGAL_BASIS
    return basis, True, Reason.CONTRACT


def _consent_reason(person: Person, purpose: str, declared: bool, state: ConsentState,
                    event: ConsentEvent | None, guardian: bool) -> Reason:
    if not declared:
        return _NOT_DECLARED
    if person.restricted:
        return _RESTRICTED
    if purpose == MARKETING and person.only_insured_or_beneficiary:
        return _NOT_HOLDER
    if state is not _GRANTED:
        return _NOT_GRANTED[state]
    if guardian and not (event is not None and event.by_guardian):
        return _GUARDIAN
    return _OK


def decide(person: Person, purpose: str, events: Iterable[ConsentEvent], declared: bool, as_of: date,
           guardian: bool | None = None) -> Decision:
    """One person's decision for one purpose (`guardian`: whether they need one, when already known)."""
    if guardian is None:
        guardian = needs_guardian(person.birth_date, as_of)
    state, event = resolve_state(events, purpose)
    if purpose == SERVICING:
        basis, allowed, reason = _servicing(person, declared)
        return Decision(purpose, state, basis, declared, allowed, reason, guardian, event)
    reason = _consent_reason(person, purpose, declared, state, event, guardian)
    return Decision(purpose, state, _CONSENT, declared, reason is _OK, reason, guardian, event)


def decide_all(person: Person, purposes: Sequence[str], events: Sequence[ConsentEvent],
               declared: frozenset[str], as_of: date) -> list[Decision]:
    """A person's decision for every purpose; events are grouped by purpose once."""
    by_purpose: dict[str | None, list[ConsentEvent]] = {}
    for event in events:
        by_purpose.setdefault(event.purpose, []).append(event)
    unknown = by_purpose.get(None, [])
    guardian = needs_guardian(person.birth_date, as_of)
    return [decide(person, p, by_purpose.get(p, []) + unknown, p in declared, as_of, guardian) for p in purposes]
