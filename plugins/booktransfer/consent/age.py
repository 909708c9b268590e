"""Age on the run's as-of date, and whether a person needs a guardian's consent (PIPL Art. 28, 31; R10)."""

from __future__ import annotations

from datetime import date

GUARDIAN_AGE = 14
"""Under 14 (不满十四周岁): all of the person's data is sensitive and consent must come from a guardian."""


def age_on(birth_date: date, as_of: date) -> int:
    """Completed years (周岁) on `as_of`. Born on 29 February: a year older on 1 March in common years."""
    return as_of.year - birth_date.year - ((as_of.month, as_of.day) < (birth_date.month, birth_date.day))


def needs_guardian(birth_date: date | None, as_of: date) -> bool:
    """Under 14 on `as_of`, or age unknown (no birth date, or one after the as-of date): treated as a minor."""
    if birth_date is None or birth_date > as_of:
        return True
    return age_on(birth_date, as_of) < GUARDIAN_AGE
