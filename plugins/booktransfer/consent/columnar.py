"""The consent rules (booktransfer.consent.decide, .resolve) applied to whole tables at once: the same decisions,
row for row, as `consent_status_table` gives person by person, computed with Arrow and numpy.

For each purpose, a person's events of that purpose and their events without a purpose are ranked the way
`resolve._classify` walks them (the purpose's events first, then the purpose-less ones, each in the order the
person's events came: the seller's, then quarantined, then re-consent): the latest dated decisive event (ties:
the more restrictive action, then the first seen), the strongest undated restriction (first seen on a tie), and
the doubts; then `resolve_state`'s order of precedence, then `decide`'s ladder of reasons. A property test holds
this to the per-person rules on random books of events.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING

import numpy as np

from booktransfer.consent.model import MARKETING, SERVICING, ConsentEvent, ConsentState, LegalBasis, Reason, Role

if TYPE_CHECKING:
    import pyarrow as pa

NONE = -1
_RANK = {ConsentState.GRANTED.value: 0, ConsentState.REFUSED.value: 1, ConsentState.WITHDRAWN.value: 2}
_NOT_GRANTED = {ConsentState.WITHDRAWN.value: Reason.CONSENT_WITHDRAWN.value,
                ConsentState.REFUSED.value: Reason.CONSENT_REFUSED.value,
                ConsentState.UNKNOWN.value: Reason.CONSENT_UNKNOWN.value}
EVENT_COLUMNS = ("purpose", "action", "event_time", "event_no", "channel", "evidence_ref", "source_line", "source",
                 "quarantined", "by_guardian")


def guardian_needed(birth_dates: Sequence[date | None], as_of: date) -> np.ndarray:
    """`age.needs_guardian` for every person: under 14 on `as_of`, or age unknown."""
    from booktransfer.consent.age import needs_guardian

    return np.fromiter((needs_guardian(b, as_of) for b in birth_dates), dtype=bool, count=len(birth_dates))


def event_table(consents: pa.Table | None, extra: Mapping[str, Sequence[ConsentEvent]], persons: pa.Array) -> pa.Table:
    """Every event of the persons as one table in each person's order (`merge_events(events_from_table(consents),
    extra)`), with `person` (index into `persons`) and `seq` (the order)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from booktransfer.extract.reader import LINE_COLUMN

    parts = []
    if consents is not None and consents.num_rows:
        n = consents.num_rows

        def col(name: str, kind: pa.DataType) -> pa.Array:
            return consents.column(name).combine_chunks().cast(kind) if name in consents.column_names \
                else pa.nulls(n, kind)

        parts.append(pa.table({
            "customer_no": col("customer_no", pa.string()), "purpose": col("purpose", pa.string()),
            "action": col("action", pa.string()), "event_time": col("event_time", pa.timestamp("us")),
            "event_no": col("event_no", pa.string()), "channel": col("channel", pa.string()),
            "evidence_ref": col("evidence_ref", pa.string()), "source_line": col(LINE_COLUMN, pa.int64()),
            "source": pa.array(["SELLER"] * n, pa.string()), "quarantined": pa.array(np.zeros(n, bool)),
            "by_guardian": pc.fill_null(col("by_guardian", pa.bool_()), False)}))
    rows = [(c, e) for c, events in extra.items() for e in events]
    if rows:
        parts.append(pa.table({
            "customer_no": pa.array([c for c, _ in rows], pa.string()),
            **{name: pa.array([getattr(e, name) for _, e in rows],
                              pa.timestamp("us") if name == "event_time" else pa.int64() if name == "source_line"
                              else pa.bool_() if name in ("quarantined", "by_guardian") else pa.string())
               for name in EVENT_COLUMNS}}))
    if not parts:
        return pa.table({"person": pa.array([], pa.int64()), "seq": pa.array([], pa.int64())})
    table = pa.concat_tables(parts)
    person = pc.index_in(table.column("customer_no"), value_set=persons)
    table = table.append_column("person", person).append_column("seq", pa.array(np.arange(table.num_rows)))
    return table.filter(pc.is_valid(person))


def _first_per_person(mask: np.ndarray, person: np.ndarray, keys: list[np.ndarray], n: int) -> np.ndarray:
    """For each person, the index of the first event (by `keys`, most significant last, as np.lexsort takes them)
    among those in `mask`; NONE where there is none."""
    idx = np.flatnonzero(mask)
    out = np.full(n, NONE, dtype=np.int64)
    if not len(idx):
        return out
    order = idx[np.lexsort([k[idx] for k in keys] + [person[idx]])]
    first = np.ones(len(order), dtype=bool)
    first[1:] = person[order][1:] != person[order][:-1]
    out[person[order][first]] = order[first]
    return out


def resolve_all(events: pa.Table, n: int, purpose: str) -> tuple[np.ndarray, np.ndarray]:
    """`resolve_state` for every person and one purpose: (state per person, index of the deciding event or NONE)."""
    import pyarrow.compute as pc

    states = np.full(n, ConsentState.UNKNOWN.value, dtype=object)
    decided = np.full(n, NONE, dtype=np.int64)
    if not events.num_rows:
        return states, decided
    person = np.asarray(events.column("person")).astype(np.int64)
    seq = np.asarray(events.column("seq"))
    own = np.asarray(pc.fill_null(pc.equal(events.column("purpose"), purpose), False))
    blank = np.asarray(pc.is_null(events.column("purpose")))
    action = np.asarray(events.column("action").to_pylist(), dtype=object)
    rank = np.fromiter((_RANK.get(a, -1) for a in action), dtype=np.int64, count=len(action))
    known = rank >= 0
    granted = rank == 0
    stamp = events.column("event_time").cast("int64").to_numpy(zero_copy_only=False)
    dated = np.asarray(pc.is_valid(events.column("event_time")))
    quarantined = np.asarray(events.column("quarantined"))
    relied = own & known & ~(granted & (quarantined | ~dated))
    latest = _first_per_person(relied & dated, person, [seq, -rank, -np.where(dated, stamp, 0)], n)
    undated = _first_per_person(relied & ~dated, person, [seq, -rank], n)
    doubt = (own & ~known) | (blank & ~granted)
    group = np.where(own, 0, 1)
    first_doubt = _first_per_person(doubt, person, [seq, group], n)
    has_latest, has_undated = latest != NONE, undated != NONE
    latest_granted = has_latest & (rank[np.maximum(latest, 0)] == 0)
    latest_time = np.where(has_latest, stamp[np.maximum(latest, 0)], 0)
    late_doubt = doubt & (~dated | (np.where(dated, stamp, 0) >= latest_time[person])) & latest_granted[person]
    first_late = _first_per_person(late_doubt, person, [seq, group], n)
    use_undated = has_undated & (~has_latest | latest_granted
                                 | (rank[np.maximum(undated, 0)] > rank[np.maximum(latest, 0)]))
    decided = np.select([use_undated, ~has_latest, first_late != NONE], [undated, first_doubt, first_late], latest)
    states = np.where(use_undated | (has_latest & (first_late == NONE)), action[np.maximum(decided, 0)],
                      ConsentState.UNKNOWN.value)
    return states.astype(object), decided


def consent_status_columnar(customers: Sequence[str], birth_dates: Sequence[date | None],
                            roles: Sequence[frozenset[str]], restricted: Sequence[bool], consents: pa.Table | None,
                            extra: Mapping[str, Sequence[ConsentEvent]], purposes: Sequence[str],
                            declared: frozenset[str], as_of: date) -> pa.Table:
    """The `consent_status` table (`consent.table.status_schema`) for the given persons, rows in (customer_no,
    purpose) order, from their consent events (`consents`: the loaded consent rows; `extra`: quarantined and
    re-consent events by customer)."""
    import pyarrow as pa

    from booktransfer.consent.table import status_schema

    order = sorted(range(len(customers)), key=customers.__getitem__)
    people = pa.array([customers[i] for i in order], pa.string())
    n = len(order)
    guardian = guardian_needed([birth_dates[i] for i in order], as_of)
    has_roles = np.array([bool(roles[i]) for i in order], dtype=bool)
    not_holder = np.array([bool(roles[i]) and Role.HOLDER.value not in roles[i] for i in order], dtype=bool)
    restrict = np.array([bool(restricted[i]) for i in order], dtype=bool)
    events = event_table(consents, extra, people)
    by_guardian = np.asarray(events.column("by_guardian")) if events.num_rows else np.zeros(0, bool)
    columns: dict[str, list[np.ndarray]] = {f.name: [] for f in status_schema()}
    chosen = []
    for purpose in purposes:
        state, decided = resolve_all(events, n, purpose)
        is_declared = purpose in declared
        if purpose == SERVICING:
            basis = np.where(has_roles, LegalBasis.CONTRACT.value, LegalBasis.NONE.value).astype(object)
            reason = np.where(not is_declared, Reason.NOT_DECLARED.value,
                              np.where(has_roles, Reason.CONTRACT.value, Reason.NO_LEGAL_BASIS.value)).astype(object)
            allowed = has_roles & is_declared
        else:
            basis = np.full(n, LegalBasis.CONSENT.value, dtype=object)
            guardian_ok = (decided != NONE) & by_guardian[np.maximum(decided, 0)] if len(by_guardian) \
                else np.zeros(n, bool)
            not_granted = np.array([_NOT_GRANTED.get(s, "") for s in state], dtype=object)
            reason = np.select(
                [np.full(n, not is_declared), restrict, np.full(n, purpose == MARKETING) & not_holder,
                 state != ConsentState.GRANTED.value, guardian & ~guardian_ok],
                [Reason.NOT_DECLARED.value, Reason.PROCESSING_RESTRICTED.value, Reason.NOT_A_POLICYHOLDER.value,
                 not_granted, Reason.GUARDIAN_CONSENT_REQUIRED.value], Reason.CONSENT_GRANTED.value).astype(object)
            allowed = reason == Reason.CONSENT_GRANTED.value
        for name, values in (("state", state), ("legal_basis", basis), ("reason", reason), ("allowed", allowed)):
            columns[name].append(values)
        columns["declared"].append(np.full(n, is_declared))
        columns["guardian_required"].append(guardian)
        chosen.append(decided)
    picked = np.stack(chosen, axis=1).ravel() if chosen else np.zeros(0, np.int64)
    p = len(purposes)
    data = {"customer_no": people.take(pa.array(np.repeat(np.arange(n), p))),
            "purpose": pa.array(list(purposes) * n, pa.string())}
    for name in ("state", "legal_basis", "declared", "allowed", "reason", "guardian_required"):
        data[name] = pa.array(np.stack(columns[name], axis=1).ravel() if p else [], status_schema().field(name).type)
    event_fields = {"decided_event_no": "event_no", "decided_at": "event_time", "decided_channel": "channel",
                    "decided_evidence_ref": "evidence_ref", "decided_source": "source",
                    "decided_source_line": "source_line"}
    has = picked != NONE
    for target, source in event_fields.items():
        kind = status_schema().field(target).type
        if not events.num_rows:
            data[target] = pa.nulls(len(picked), kind)
            continue
        values = events.column(source).combine_chunks().take(pa.array(np.maximum(picked, 0)))
        values = values.cast(pa.timestamp("s"), safe=False) if target == "decided_at" else values.cast(kind)
        data[target] = _mask(values, has)
    return pa.table(data, schema=status_schema())


def _mask(values: pa.Array, keep: np.ndarray) -> pa.Array:
    """`values` with nulls where `keep` is False."""
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.if_else(pa.array(keep), values, pa.scalar(None, values.type))
