"""booktransfer.consent.age: under 14 on the as-of date, or of unknown age, needs a guardian (R10)."""

from __future__ import annotations

from datetime import date

import pytest

from booktransfer.consent.age import age_on, needs_guardian

AS_OF = date(2026, 6, 30)


@pytest.mark.parametrize(("birth", "guardian"), [
    (date(2012, 6, 30), False),   # 14th birthday is the as-of date: no longer a minor
    (date(2012, 7, 1), True),     # 14th birthday tomorrow: still a minor
    (date(1990, 1, 1), False),
    (date(2026, 6, 30), True),    # born on the as-of date
    (date(2027, 1, 1), True),     # born after the as-of date: age cannot be determined
    (None, True),                 # no birth date: age unknown, treated as a minor
])
def test_guardian_boundaries(birth, guardian):
    """The boundary day belongs to the older side; unknown ages are treated as minors."""
    assert needs_guardian(birth, AS_OF) is guardian


def test_leap_day_birthday_counts_from_first_of_march_in_common_years():
    """Born 29 February 2012: 14 on 1 March 2026, not on 28 February."""
    born = date(2012, 2, 29)
    assert age_on(born, date(2026, 2, 28)) == 13
    assert age_on(born, date(2026, 3, 1)) == 14
    assert age_on(born, date(2028, 2, 29)) == 16
