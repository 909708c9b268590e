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
# State codes: a decisive action's rank (the more restrictive, the higher), then UNKNOWN.
_STATES = (ConsentState.GRANTED.value, ConsentState.REFUSED.value, ConsentState.WITHDRAWN.value,
           ConsentState.UNKNOWN.value)
_RANKED = _STATES[:3]
GRANTED, UNKNOWN = _STATES.index(ConsentState.GRANTED.value), _STATES.index(ConsentState.UNKNOWN.value)
_REASONS = tuple(r.value for r in Reason)
_BASES = tuple(b.value for b in LegalBasis)
_NOT_GRANTED = np.array([0] + [_REASONS.index(r.value) for r in (Reason.CONSENT_REFUSED, Reason.CONSENT_WITHDRAWN,
                                                                 Reason.CONSENT_UNKNOWN)])
EVENT_COLUMNS = ("purpose", "action", "event_time", "event_no", "channel", "evidence_ref", "source_line", "source",
                 "quarantined", "by_guardian")


def guardian_needed(birth_dates: Sequence[date | None], as_of: date) -> np.ndarray:
    """`age.needs_guardian` for every person: under 14 on `as_of`, or age unknown."""
    import pyarrow as pa

    return guardian_needed_array(pa.array(list(birth_dates), pa.date32()), as_of)


def guardian_needed_array(births: pa.Array | pa.ChunkedArray, as_of: date) -> np.ndarray:
    """`age.needs_guardian` for an Arrow array of birth dates (null: unknown): no birth date, one after `as_of`,
    or under 14 completed years on `as_of` (born on 29 February: a year older on 1 March in common years)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from booktransfer.consent.age import GUARDIAN_AGE

    births = births.cast(pa.date32())
    year, month, day = (np.asarray(pc.fill_null(f(births), 0)) for f in (pc.year, pc.month, pc.day))
    before_birthday = (as_of.month < month) | ((as_of.month == month) & (as_of.day < day))
    age = as_of.year - year - before_birthday
    unknown = np.asarray(pc.is_null(births)) | np.asarray(pc.fill_null(pc.greater(births, pa.scalar(as_of)), True))
    return unknown | (age < GUARDIAN_AGE)


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
            "source": pa.repeat(pa.scalar("SELLER", pa.string()), n), "quarantined": pa.array(np.zeros(n, bool)),
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


class _EventArrays:
    """The columns of an event table every purpose's resolution reads, as numpy arrays, taken once."""

    def __init__(self, events: pa.Table) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        self.table, self.count = events, events.num_rows
        if not self.count:
            return
        self.purpose = events.column("purpose")
        self.person = np.asarray(events.column("person")).astype(np.int64)
        self.seq = np.asarray(events.column("seq"))
        self.blank = np.asarray(pc.is_null(self.purpose))
        ranked = pc.index_in(events.column("action"), value_set=pa.array(_RANKED, pa.string()))
        self.rank = np.asarray(pc.fill_null(ranked, NONE)).astype(np.int64)
        self.known = self.rank >= 0
        self.granted = self.rank == GRANTED
        self.stamp = events.column("event_time").cast("int64").to_numpy(zero_copy_only=False)
        self.dated = np.asarray(pc.is_valid(events.column("event_time")))
        self.quarantined = np.asarray(events.column("quarantined"))
        self.by_guardian = np.asarray(events.column("by_guardian"))


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


def resolve_all(ev: _EventArrays, n: int, purpose: str) -> tuple[np.ndarray, np.ndarray]:
    """`resolve_state` for every person and one purpose: (state code per person, an index into `_STATES`; index
    of the deciding event or NONE)."""
    import pyarrow.compute as pc

    states = np.full(n, UNKNOWN, dtype=np.int64)
    decided = np.full(n, NONE, dtype=np.int64)
    if not ev.count:
        return states, decided
    person, seq, rank, dated, stamp = ev.person, ev.seq, ev.rank, ev.dated, ev.stamp
    own = np.asarray(pc.fill_null(pc.equal(ev.purpose, purpose), False))
    relied = own & ev.known & ~(ev.granted & (ev.quarantined | ~dated))
    latest = _first_per_person(relied & dated, person, [seq, -rank, -np.where(dated, stamp, 0)], n)
    undated = _first_per_person(relied & ~dated, person, [seq, -rank], n)
    doubt = (own & ~ev.known) | (ev.blank & ~ev.granted)
    group = np.where(own, 0, 1)
    first_doubt = _first_per_person(doubt, person, [seq, group], n)
    has_latest, has_undated = latest != NONE, undated != NONE
    latest_granted = has_latest & (rank[np.maximum(latest, 0)] == GRANTED)
    latest_time = np.where(has_latest, stamp[np.maximum(latest, 0)], 0)
    late_doubt = doubt & (~dated | (np.where(dated, stamp, 0) >= latest_time[person])) & latest_granted[person]
    first_late = _first_per_person(late_doubt, person, [seq, group], n)
    use_undated = has_undated & (~has_latest | latest_granted
                                 | (rank[np.maximum(undated, 0)] > rank[np.maximum(latest, 0)]))
    decided = np.select([use_undated, ~has_latest, first_late != NONE], [undated, first_doubt, first_late], latest)
    # The state comes from the deciding event only when it is a decisive one (its action ranked), else UNKNOWN.
    states = np.where(use_undated | (has_latest & (first_late == NONE)), rank[np.maximum(decided, 0)], UNKNOWN)
    return states, decided


def consent_status_columnar(customers: Sequence[str], birth_dates: Sequence[date | None],
                            roles: Sequence[frozenset[str]], restricted: Sequence[bool], consents: pa.Table | None,
                            extra: Mapping[str, Sequence[ConsentEvent]], purposes: Sequence[str],
                            declared: frozenset[str], as_of: date) -> pa.Table:
    """The `consent_status` table (`consent.table.status_schema`) for the given persons, rows in (customer_no,
    purpose) order, from their consent events (`consents`: the loaded consent rows; `extra`: quarantined and
    re-consent events by customer). `consent_status_arrays` with the persons' facts as Python values."""
    import pyarrow as pa

    return consent_status_arrays(
        pa.array(list(customers), pa.string()), guardian_needed(birth_dates, as_of),
        np.array([bool(r) for r in roles], dtype=bool),
        np.array([bool(r) and Role.HOLDER.value not in r for r in roles], dtype=bool),
        np.array([bool(r) for r in restricted], dtype=bool), consents, extra, purposes, declared)


def consent_status_arrays(customers: pa.Array, guardian: np.ndarray, has_roles: np.ndarray, not_holder: np.ndarray,
                          restricted: np.ndarray, consents: pa.Table | None,
                          extra: Mapping[str, Sequence[ConsentEvent]], purposes: Sequence[str],
                          declared: frozenset[str]) -> pa.Table:
    """`consent_status_columnar` for persons given as arrays in one order: their customer numbers, whether each
    needs a guardian's consent, has a role on a loaded policy, has roles but holds no policy, is restricted."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from booktransfer.consent.table import status_schema

    order = np.asarray(pc.sort_indices(customers)).astype(np.int64)  # stable; UTF-8 order is Python's str order
    people = customers.take(pa.array(order))
    guardian, has_roles, not_holder, restrict = guardian[order], has_roles[order], not_holder[order], restricted[order]
    n = len(order)
    ev = _EventArrays(event_table(consents, extra, people))
    by_guardian = ev.by_guardian if ev.count else np.zeros(0, bool)
    codes: dict[str, list[np.ndarray]] = {"state": [], "legal_basis": [], "reason": [], "allowed": [],
                                          "declared": [], "guardian_required": []}
    chosen = []
    reason_of = _REASONS.index
    for purpose in purposes:
        state, decided = resolve_all(ev, n, purpose)
        is_declared = purpose in declared
        if purpose == SERVICING:
            basis = np.where(has_roles, _BASES.index(LegalBasis.CONTRACT.value), _BASES.index(LegalBasis.NONE.value))
            reason = np.full(n, reason_of(Reason.NOT_DECLARED.value)) if not is_declared else \
                np.where(has_roles, reason_of(Reason.CONTRACT.value), reason_of(Reason.NO_LEGAL_BASIS.value))
            allowed = has_roles & is_declared
        else:
            basis = np.full(n, _BASES.index(LegalBasis.CONSENT.value))
            guardian_ok = (decided != NONE) & by_guardian[np.maximum(decided, 0)] if len(by_guardian) \
                else np.zeros(n, bool)
            reason = np.select(
                [np.full(n, not is_declared), restrict, np.full(n, purpose == MARKETING) & not_holder,
                 state != GRANTED, guardian & ~guardian_ok],
                [reason_of(Reason.NOT_DECLARED.value), reason_of(Reason.PROCESSING_RESTRICTED.value),
                 reason_of(Reason.NOT_A_POLICYHOLDER.value), _NOT_GRANTED[state],
                 reason_of(Reason.GUARDIAN_CONSENT_REQUIRED.value)], reason_of(Reason.CONSENT_GRANTED.value))
            allowed = reason == reason_of(Reason.CONSENT_GRANTED.value)
        for name, values in (("state", state), ("legal_basis", basis), ("reason", reason), ("allowed", allowed),
                             ("declared", np.full(n, is_declared)), ("guardian_required", guardian)):
            codes[name].append(values)
        chosen.append(decided)
    p = len(purposes)

    def flat(name: str) -> np.ndarray:  # person by person, purposes in order within each
        return np.stack(codes[name], axis=1).ravel() if p else np.zeros(0, np.int64)

    picked = np.stack(chosen, axis=1).ravel() if p else np.zeros(0, np.int64)
    words = {"state": _STATES, "legal_basis": _BASES, "reason": _REASONS}
    data = {"customer_no": people.take(pa.array(np.repeat(np.arange(n), p))),
            "purpose": pa.array(list(purposes), pa.string()).take(pa.array(np.tile(np.arange(p), n)))}
    for name in ("state", "legal_basis", "declared", "allowed", "reason", "guardian_required"):
        data[name] = pa.array(words[name], pa.string()).take(pa.array(flat(name))) if name in words \
            else pa.array(flat(name).astype(bool), pa.bool_())
    event_fields = {"decided_event_no": "event_no", "decided_at": "event_time", "decided_channel": "channel",
                    "decided_evidence_ref": "evidence_ref", "decided_source": "source",
                    "decided_source_line": "source_line"}
    has = picked != NONE
    events = ev.table if ev.count else None
    for target, source in event_fields.items():
        kind = status_schema().field(target).type
        if events is None:
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
