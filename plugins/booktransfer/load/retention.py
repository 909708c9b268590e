"""Statutory retention holds (Insurance Law Art. 87; PIPL Art. 47 para. 2; REQUIREMENTS R33, R35).

A policy's records are kept from the contract's termination for 5 years when its term is at most one year,
10 years otherwise. A contract not known to be terminated (in force, lapsed but reinstatable, or any status
this module does not know) is held for as long as it runs. Terminated contracts count from the expiry date,
the latest they can have ended. A person is held as long as any policy they hold, are insured on or
benefit from is held.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pyarrow as pa

TERMINATED = frozenset({"MATURED", "SURRENDERED", "TERMINATED", "EXPIRED", "CANCELLED"})
IN_FORCE_BASIS = "CONTRACT_IN_FORCE"
SHORT_TERM_BASIS = "INSURANCE_LAW_ART87_5Y"
LONG_TERM_BASIS = "INSURANCE_LAW_ART87_10Y"
DECLARED_BASIS = "DECLARED_IN_REQUEST"


@dataclass(frozen=True)
class Hold:
    """Why and until when a person's data must be kept; `until` None: while a contract runs."""

    until: date | None
    basis: str


def add_years(day: date, years: int) -> date:
    """The same day `years` later; 29 February becomes 1 March in a common year (the later, safer day)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return date(day.year + years, 3, 1)


def policy_hold(status: str | None, issue: date | None, expiry: date | None, as_of: date) -> Hold | None:
    """The hold a policy places on its parties on `as_of`, or None when its retention period is over."""
    if status not in TERMINATED or expiry is None:
        return Hold(None, IN_FORCE_BASIS)
    short = issue is not None and expiry <= add_years(issue, 1)
    until = add_years(expiry, 5 if short else 10)
    return Hold(until, SHORT_TERM_BASIS if short else LONG_TERM_BASIS) if until >= as_of else None


def stronger(a: Hold | None, b: Hold | None) -> Hold | None:
    """The longer of two holds (no end beats any date)."""
    if a is None or b is None:
        return a or b
    if a.until is None or (b.until is not None and a.until >= b.until):
        return a
    return b


def person_holds(policies: pa.Table, parties: pa.Table, as_of: date) -> dict[str, Hold]:
    """Each customer's retention hold from every policy they hold or are a party to."""
    per_policy: dict[str, Hold | None] = {}
    holders: dict[str, str] = {}
    cols = [policies.column(c).to_pylist() for c in ("policy_no", "holder_customer_no", "status", "issue_date",
                                                      "expiry_date")]
    for policy_no, holder, status, issue, expiry in zip(*cols, strict=True):
        per_policy[policy_no] = policy_hold(status, issue, expiry, as_of)
        holders[policy_no] = holder
    out: dict[str, Hold] = {}

    def add(customer: str | None, hold: Hold | None) -> None:
        if customer is not None and hold is not None:
            out[customer] = stronger(out.get(customer), hold)

    for policy_no, hold in per_policy.items():
        add(holders[policy_no], hold)
    for policy_no, customer in zip(parties.column("policy_no").to_pylist(), parties.column("customer_no").to_pylist(),
                                   strict=True):
        add(customer, per_policy.get(policy_no))
    return out
