"""A person's consent state for one purpose, from their events: the latest event wins, withdrawal wins ties.

The rules, in the words an auditor would check them against (REQUIREMENTS R02, R04):

1. Only events of the purpose itself decide it; a grant of another purpose never counts (separate consent).
2. Among dated events with a known action (GRANTED, WITHDRAWN, REFUSED) the latest wins; at the same time
   WITHDRAWN beats REFUSED beats GRANTED.
3. A grant that cannot be relied on never counts: one without a time, and one from a quarantined event.
4. A withdrawal or refusal without a time cannot be placed after any grant, so it stands (withdrawn stays
   withdrawn).
5. Doubt: an event of the purpose whose action is blank or unknown, or a withdrawal, refusal or unknown
   action whose purpose is blank or unknown, may have been a withdrawal of this purpose. When it is not
   provably older than a winning grant, the state is UNKNOWN, never GRANTED.
6. No usable event: UNKNOWN. Nothing is inferred from other fields (policy status, channel, a phone number).
"""

from __future__ import annotations

from collections.abc import Iterable

from booktransfer.consent.model import RESTRICTIVE_ACTIONS, TIE_RANK, ConsentEvent, ConsentState


def _stronger(current: ConsentEvent | None, candidate: ConsentEvent) -> ConsentEvent:
    """The more restrictive of two undated restrictive events (WITHDRAWN over REFUSED; first seen on a tie)."""
    if current is None or TIE_RANK[candidate.known_action] > TIE_RANK[current.known_action]:
        return candidate
    return current


def _sort_key(event: ConsentEvent) -> tuple:
    return event.event_time, TIE_RANK[event.known_action]


def _classify(events: Iterable[ConsentEvent], purpose: str) -> tuple[ConsentEvent | None, ConsentEvent | None,
                                                                       list[ConsentEvent]]:
    """(latest dated decisive event, strongest undated restriction, doubtful events) among a person's events."""
    latest: ConsentEvent | None = None
    undated: ConsentEvent | None = None
    doubts: list[ConsentEvent] = []
    for event in events:
        action = event.known_action
        if event.purpose == purpose:
            if action is None:
                doubts.append(event)
            elif action is ConsentState.GRANTED and (event.quarantined or event.event_time is None):
                continue
            elif event.event_time is None:
                undated = _stronger(undated, event)
            elif latest is None or _sort_key(event) > _sort_key(latest):
                latest = event
        elif event.purpose is None and action is not ConsentState.GRANTED:
            doubts.append(event)
    return latest, undated, doubts


def resolve_state(events: Iterable[ConsentEvent], purpose: str) -> tuple[ConsentState, ConsentEvent | None]:
    """The state of one purpose and the event that decided it (None when no event did)."""
    latest, undated, doubts = _classify(events, purpose)
    if undated is not None and (latest is None or latest.known_action is ConsentState.GRANTED
                                or TIE_RANK[undated.known_action] > TIE_RANK[latest.known_action]):
        return undated.known_action, undated
    if latest is None:
        return ConsentState.UNKNOWN, (doubts[0] if doubts else None)
    if latest.known_action is ConsentState.GRANTED:
        for doubt in doubts:
            if doubt.event_time is None or doubt.event_time >= latest.event_time:
                return ConsentState.UNKNOWN, doubt
    return latest.known_action, latest


def is_restrictive(state: ConsentState) -> bool:
    """WITHDRAWN or REFUSED."""
    return state in RESTRICTIVE_ACTIONS
