"""The buyer's declared purposes against what the seller's consents permit (PIPL Art. 22 last sentence; R05).

The seller's consents permit SERVICING (the contracts themselves) and every purpose the seller recorded
consent for (the values of the mapping's consent purpose code table). A declared purpose outside that set
is a change of purpose: the run fails unless re-consent is recorded for it (a re-consent file with events
of that purpose); even then only the persons whose re-consent is GRANTED are allowed.
"""

from __future__ import annotations

from collections.abc import Iterable

from booktransfer.consent.model import SERVICING
from booktransfer.errors import PurposeNotPermitted


def permitted_purposes(seller_purposes: Iterable[str]) -> frozenset[str]:
    """SERVICING plus every purpose the seller recorded consent for."""
    return frozenset({SERVICING, *seller_purposes})


def check_buyer_purposes(declared: Iterable[str], permitted: frozenset[str], reconsented: frozenset[str]) -> None:
    """Raise when a declared purpose is neither permitted by the seller's consents nor re-consented."""
    outside = sorted({p for p in declared if p not in permitted and p not in reconsented})
    if outside:
        raise PurposeNotPermitted(
            f"buyer purpose(s) {', '.join(outside)} go beyond what the seller's consents permit "
            f"({', '.join(sorted(permitted))}); PIPL Art. 22 requires fresh consent for a new purpose: record "
            "re-consent for it (a re-consent file with events of that purpose) or remove it from buyer_purposes"
        )


def purpose_order(permitted: frozenset[str], reconsented: frozenset[str], declared: Iterable[str]) -> list[str]:
    """Every purpose the buyer's consent table carries, SERVICING first, then alphabetically."""
    rest = sorted((permitted | reconsented | set(declared)) - {SERVICING})
    return [SERVICING, *rest]
