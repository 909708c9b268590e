"""The consent vocabulary: states, legal bases, reasons, and the records the rules work on (REQUIREMENTS R01–R05).

The records are named tuples: immutable, and cheap enough to make by the million (a book's consent events).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import NamedTuple


class ConsentState(StrEnum):
    """What a person decided about one purpose, as far as the records show."""

    GRANTED = "GRANTED"
    WITHDRAWN = "WITHDRAWN"
    REFUSED = "REFUSED"
    UNKNOWN = "UNKNOWN"


class LegalBasis(StrEnum):
    """What processing for a purpose rests on (PIPL Art. 13)."""

    CONTRACT = "CONTRACT"
    CONSENT = "CONSENT"
    NONE = "NONE"


class Reason(StrEnum):
    """Why a purpose is allowed or not, one code per decision (the first rule that applies, in this order)."""

    NOT_DECLARED = "NOT_DECLARED"
    CONTRACT = "CONTRACT"
    NO_LEGAL_BASIS = "NO_LEGAL_BASIS"
    PROCESSING_RESTRICTED = "PROCESSING_RESTRICTED"
    NOT_A_POLICYHOLDER = "NOT_A_POLICYHOLDER"
    CONSENT_WITHDRAWN = "CONSENT_WITHDRAWN"
    CONSENT_REFUSED = "CONSENT_REFUSED"
    CONSENT_UNKNOWN = "CONSENT_UNKNOWN"
    GUARDIAN_CONSENT_REQUIRED = "GUARDIAN_CONSENT_REQUIRED"
    CONSENT_GRANTED = "CONSENT_GRANTED"


class Role(StrEnum):
    """A person's part in the loaded policies."""

    HOLDER = "HOLDER"
    INSURED = "INSURED"
    BENEFICIARY = "BENEFICIARY"


SERVICING = "SERVICING"
"""Performing the insurance contract: rests on the contract, needs no consent (PIPL Art. 13(2))."""

MARKETING = "MARKETING"
"""Marketing: only for policyholders who granted it (persons only insured or beneficiaries never, R39)."""

KNOWN_ACTIONS = frozenset({ConsentState.GRANTED, ConsentState.WITHDRAWN, ConsentState.REFUSED})
RESTRICTIVE_ACTIONS = frozenset({ConsentState.WITHDRAWN, ConsentState.REFUSED})
TIE_RANK = {ConsentState.GRANTED: 0, ConsentState.REFUSED: 1, ConsentState.WITHDRAWN: 2}
"""At the same event time the more restrictive event wins: withdrawal over refusal over grant."""


_ACTIONS = {state.value: state for state in KNOWN_ACTIONS}


def action_of(value: str | None) -> ConsentState | None:
    """An event's action as a known state, or None when blank or not one of GRANTED, WITHDRAWN, REFUSED.

    Never inferred: `Y`, `1`, `yes` or `granted` (lower case) are not GRANTED; the mapping translates codes.
    """
    return _ACTIONS.get(value) if isinstance(value, str) else None


class ConsentEvent(NamedTuple):
    """One consent event of a person, as far as it could be read.

    `purpose`, `action` and `event_time` are None when blank or unreadable. A `quarantined` event failed
    mapping or validation: its grant is never relied on, its withdrawal or refusal still counts.
    """

    purpose: str | None
    action: str | None
    event_time: datetime | None
    event_no: str | None = None
    channel: str | None = None
    evidence_ref: str | None = None
    source_line: int | None = None
    source: str = "SELLER"
    quarantined: bool = False
    by_guardian: bool = False

    @property
    def known_action(self) -> ConsentState | None:
        """The action if it is one of the three known ones, else None."""
        return action_of(self.action)


class Person(NamedTuple):
    """A natural person loaded for the buyer: what the consent rules need to know about them."""

    customer_no: str
    birth_date: date | None
    roles: frozenset[str] = frozenset()
    restricted: bool = False

    @property
    def only_insured_or_beneficiary(self) -> bool:
        """Insured or beneficiary on some policy, policyholder of none: their data came from the holder."""
        return bool(self.roles) and Role.HOLDER not in self.roles


class Decision(NamedTuple):
    """What the buyer may do with one person's data for one purpose, and the event that decided it."""

    purpose: str
    state: ConsentState
    legal_basis: LegalBasis
    declared: bool
    allowed: bool
    reason: Reason
    guardian_required: bool
    event: ConsentEvent | None = None
