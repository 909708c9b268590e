"""Consent events of a customer: grants and withdrawals per purpose, in time order."""

import random
from dataclasses import dataclass
from datetime import date

from booktransfer.sample.layout import AS_OF, AUTH_TYPES, CHANNELS, GRANTED, WITHDRAWN

GRANT_PROBABILITY = {"YX": 0.82, "GX": 0.56, "MG": 0.72, "JW": 0.3}
WITHDRAWAL_PROBABILITY = 0.25
REGRANT_PROBABILITY = 0.2
CHANNEL_WEIGHTS = (35, 20, 30, 15)
DAY_SECONDS = 86_400
FIRST_SECOND, LAST_SECOND = 7 * 3600, 23 * 3600


@dataclass(frozen=True, slots=True)
class ConsentEvent:
    """One grant or withdrawal of consent for a purpose."""

    moment: int
    auth_type: str
    flag: str
    channel: str

    def auth_time(self) -> str:
        """The event time as ``YYYY-MM-DD HH:MM:SS``."""
        day = date.fromordinal(self.moment // DAY_SECONDS)
        minutes, second = divmod(self.moment % DAY_SECONDS, 60)
        hour, minute = divmod(minutes, 60)
        return f"{day.year:04d}-{day.month:02d}-{day.day:02d} {hour:02d}:{minute:02d}:{second:02d}"


def _moment_after(rng: random.Random, earliest: int) -> int | None:
    """A moment (seconds since day 1 of year 1) during opening hours after ``earliest``, or None."""
    first_day = earliest // DAY_SECONDS
    last_day = AS_OF.toordinal()
    if first_day > last_day:
        return None
    day = rng.randint(first_day, last_day)
    low = max(FIRST_SECOND, earliest % DAY_SECONDS + 1) if day == first_day else FIRST_SECOND
    if low > LAST_SECOND:
        return None
    return day * DAY_SECONDS + rng.randint(low, LAST_SECOND)


def consent_events(rng: random.Random, since: date) -> list[ConsentEvent]:
    """The consent history of a customer who became one on ``since`` (about three events on average)."""
    events: list[ConsentEvent] = []
    start = since.toordinal() * DAY_SECONDS
    for auth_type in AUTH_TYPES:
        if rng.random() >= GRANT_PROBABILITY[auth_type]:
            continue
        moment = _moment_after(rng, start)
        flag = GRANTED
        while moment is not None:
            events.append(ConsentEvent(moment, auth_type, flag, rng.choices(CHANNELS, CHANNEL_WEIGHTS)[0]))
            again = WITHDRAWAL_PROBABILITY if flag == GRANTED else REGRANT_PROBABILITY
            if rng.random() >= again:
                break
            flag = WITHDRAWN if flag == GRANTED else GRANTED
            moment = _moment_after(rng, moment)
    events.sort(key=lambda event: event.moment)
    return events
