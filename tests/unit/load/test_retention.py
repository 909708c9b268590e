"""booktransfer.load.retention: Insurance Law Art. 87 holds, from the policies a person is on."""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pytest

from booktransfer.load.retention import Hold, add_years, person_holds, policy_hold

AS_OF = date(2026, 1, 15)


@pytest.mark.parametrize(("status", "issue", "expiry", "expected"), [
    ("IN_FORCE", date(2015, 1, 1), date(2035, 1, 1), Hold(None, "CONTRACT_IN_FORCE")),
    ("LAPSED", date(2015, 1, 1), date(2016, 1, 1), Hold(None, "CONTRACT_IN_FORCE")),      # reinstatable
    ("SOMETHING_NEW", date(2000, 1, 1), date(2001, 1, 1), Hold(None, "CONTRACT_IN_FORCE")),  # unknown: held
    ("MATURED", date(2000, 1, 1), None, Hold(None, "CONTRACT_IN_FORCE")),                 # no end date: held
    ("MATURED", date(2019, 6, 1), date(2020, 6, 1), Hold(date(2025, 6, 1), "INSURANCE_LAW_ART87_5Y")),
    ("MATURED", date(2020, 1, 20), date(2021, 1, 20), Hold(date(2026, 1, 20), "INSURANCE_LAW_ART87_5Y")),
    ("SURRENDERED", date(2005, 1, 1), date(2016, 2, 1), Hold(date(2026, 2, 1), "INSURANCE_LAW_ART87_10Y")),
    ("SURRENDERED", date(2005, 1, 1), date(2016, 1, 1), Hold(date(2026, 1, 1), "INSURANCE_LAW_ART87_10Y")),
])
def test_policy_hold(status, issue, expiry, expected):
    """Term up to one year: 5 years after expiry; longer: 10; not terminated or no end: held while it runs."""
    hold = policy_hold(status, issue, expiry, AS_OF)
    if expected.until is not None and expected.until < AS_OF:
        assert hold is None
    else:
        assert hold == expected


def test_a_person_is_held_by_the_longest_of_their_policies():
    """Holder of an expired policy and beneficiary of one in force: held while that one runs."""
    policies = pa.table({"policy_no": ["P1", "P2"], "holder_customer_no": ["A", "B"],
                         "status": ["MATURED", "IN_FORCE"], "issue_date": [date(2000, 1, 1), date(2010, 1, 1)],
                         "expiry_date": [date(2001, 1, 1), date(2040, 1, 1)]})
    parties = pa.table({"policy_no": ["P2", "P1"], "customer_no": ["A", "C"]})
    holds = person_holds(policies, parties, AS_OF)
    assert holds == {"A": Hold(None, "CONTRACT_IN_FORCE"), "B": Hold(None, "CONTRACT_IN_FORCE")}


def test_leap_day_moves_to_first_of_march():
    """A hold counted from 29 February ends on 1 March in a common year (the later day)."""
    assert add_years(date(2020, 2, 29), 5) == date(2025, 3, 1)
    assert add_years(date(2020, 2, 29), 4) == date(2024, 2, 29)
