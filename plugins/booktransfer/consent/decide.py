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

_NOT_GRANTED = {ConsentState.WITHDRAWN: Reason.CONSENT_WITHDRAWN, ConsentState.REFUSED: Reason.CONSENT_REFUSED,
                ConsentState.UNKNOWN: Reason.CONSENT_UNKNOWN}


def _servicing(person: Person, declared: bool) -> tuple[LegalBasis, bool, Reason]:
    basis = LegalBasis.CONTRACT if person.roles else LegalBasis.NONE
    if not declared:
        return basis, False, Reason.NOT_DECLARED
    if basis is LegalBasis.NONE:
        return basis, False, Reason.NO_LEGAL_BASIS
    return basis, True, Reason.CONTRACT


def _consent_reason(person: Person, purpose: str, declared: bool, state: ConsentState,
                    event: ConsentEvent | None, guardian: bool) -> Reason:
    if not declared:
        return Reason.NOT_DECLARED
    if person.restricted:
        return Reason.PROCESSING_RESTRICTED
    if purpose == MARKETING and person.only_insured_or_beneficiary:
        return Reason.NOT_A_POLICYHOLDER
    if state is not ConsentState.GRANTED:
        return _NOT_GRANTED[state]
    if guardian and not (event is not None and event.by_guardian):
        return Reason.GUARDIAN_CONSENT_REQUIRED
    return Reason.CONSENT_GRANTED


def decide(person: Person, purpose: str, events: Iterable[ConsentEvent], declared: bool, as_of: date) -> Decision:
    """One person's decision for one purpose."""
    guardian = needs_guardian(person.birth_date, as_of)
    state, event = resolve_state(events, purpose)
    if purpose == SERVICING:
        basis, allowed, reason = _servicing(person, declared)
        return Decision(purpose, state, basis, declared, allowed, reason, guardian, event)
    reason = _consent_reason(person, purpose, declared, state, event, guardian)
    return Decision(purpose, state, LegalBasis.CONSENT, declared, reason is Reason.CONSENT_GRANTED, reason,
                    guardian, event)


def decide_all(person: Person, purposes: Sequence[str], events: Sequence[ConsentEvent],
               declared: frozenset[str], as_of: date) -> list[Decision]:
    """A person's decision for every purpose; events are grouped by purpose once."""
    by_purpose: dict[str | None, list[ConsentEvent]] = {}
    for event in events:
        by_purpose.setdefault(event.purpose, []).append(event)
    unknown = by_purpose.get(None, [])
    return [decide(person, p, by_purpose.get(p, []) + unknown, p in declared, as_of) for p in purposes]
