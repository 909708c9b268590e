"""The load plan: from the protected entities to exactly what the buyer receives, before anything is written.

1. The buyer's declared purposes are checked against what the seller's consents permit (fails the run).
2. Data-subject requests: the persons they name are suppressed with every row that depends on them, unless a
   statutory retention hold keeps them (then they are loaded, restricted to storage, and listed).
3. Consent: one decision per natural person and purpose (`consent_status`).
4. Notices: the PIPL Art. 22 manifest (`notification_manifest`), and the restrictions (`processing_restrictions`).

Pure: Arrow tables and settings in, tables and a JSON-safe summary (counts, source lines, tokens) out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from booktransfer.consent.age import needs_guardian
from booktransfer.consent.model import Person
from booktransfer.consent.purposes import check_buyer_purposes, permitted_purposes, purpose_order
from booktransfer.consent.table import KEY as STATUS_KEY
from booktransfer.consent.table import consent_status_table, status_summary
from booktransfer.extract.reader import LINE_COLUMN
from booktransfer.load.consent_events import Events, events_from_table, merge_events
from booktransfer.load.loader import TableLoad
from booktransfer.load.manifest import KEY as MANIFEST_KEY
from booktransfer.load.manifest import notification_manifest
from booktransfer.load.retention import DECLARED_BASIS, Hold, person_holds, stronger
from booktransfer.load.settings import TransferSettings
from booktransfer.load.subject_requests import IdLookup, SubjectRequest, customer_mask, match_requests
from booktransfer.load.subjects import (
    CONSENTS,
    CUSTOMERS,
    PARTIES,
    POLICIES,
    natural_persons,
    policyholder_of,
    roles_by_customer,
)
from booktransfer.mapping.loader import MappingSet

CONSENT_STATUS, MANIFEST, RESTRICTIONS = "consent_status", "notification_manifest", "processing_restrictions"
CONSENT_CHUNK = 100_000
"""Persons decided at a time: their events live as Python objects only for the chunk."""


@dataclass(frozen=True)
class PlanInputs:
    """Everything the plan is made from (the stage reads it; the plan itself does no I/O)."""

    mapping: MappingSet
    tables: dict[str, pa.Table]
    birth_dates: dict[str, date | None]
    settings: TransferSettings
    as_of: date
    quarantined_events: Events = field(default_factory=dict)
    reconsent_events: Events = field(default_factory=dict)
    requests: list[SubjectRequest] = field(default_factory=list)
    id_lookup: IdLookup | None = None
    normalize_customer_no: Callable[[list[str]], list[str | None]] = lambda v: [s.strip().upper() for s in v]
    merged_aliases: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LoadPlan:
    """The tables to load in order, the source lines suppressed per entity, and the summary for the report."""

    tables: list[TableLoad]
    suppressed_lines: dict[str, list[int]]
    summary: dict[str, Any]


def seller_purposes(mapping: MappingSet, consents: pa.Table | None) -> set[str]:
    """The purposes the seller recorded consent for: its purpose code table, and any purpose in its events."""
    out = set()
    if consents is not None and "purpose" in consents.column_names:
        out = {p for p in pc.unique(consents.column("purpose")).to_pylist() if p}
    spec = mapping.entities.get(CONSENTS)
    purpose = next((f for f in spec.fields if f.target == "purpose"), None) if spec else None
    if purpose is not None and purpose.lookup:
        out.update(mapping.codes[purpose.lookup].values.values())
    return out


def cascade(mapping: MappingSet, tables: dict[str, pa.Table], suppressed: set[str]) -> tuple[dict[str, pa.Table],
                                                                                           dict[str, list[int]]]:
    """Remove the suppressed customers and every row that refers to a removed row, following `references`."""
    referenced = {tuple(f.references.split(".")) for spec in mapping.entities.values() for f in spec.fields
                  if f.references}
    removed = {(CUSTOMERS, "customer_no"): pa.array(sorted(suppressed), pa.string())}
    kept, lines = {}, {}
    for entity, spec in mapping.entities.items():
        table = tables[entity]
        mask = (customer_mask(table, "customer_no", suppressed) if entity == CUSTOMERS
                else pa.array([False] * table.num_rows, pa.bool_()))
        for f in spec.fields:
            gone = removed.get(tuple(f.references.split("."))) if f.references else None
            if gone is not None and len(gone):
                mask = pc.or_(mask, pc.fill_null(pc.is_in(table.column(f.target), value_set=gone), False))
        if not pc.any(mask).as_py():  # the usual case: nothing to remove, no copy of the table
            kept[entity], lines[entity] = table, []
        else:
            kept[entity] = table.filter(pc.invert(mask))
            lines[entity] = sorted(table.column(LINE_COLUMN).filter(mask).to_pylist())
        for parent, column in referenced:
            if parent == entity and (entity, column) not in removed:
                removed[(entity, column)] = table.column(column).filter(mask).combine_chunks()
    return kept, lines


def _holds_for(matched: dict[str, SubjectRequest], holds: dict[str, Hold], as_of: date) -> dict[str, Hold]:
    out = {}
    for customer, req in matched.items():
        declared = Hold(req.hold_until, DECLARED_BASIS) if req.hold_until and req.hold_until >= as_of else None
        hold = stronger(holds.get(customer), declared)
        if hold is not None:
            out[customer] = hold
    return out


def restrictions_table(held: dict[str, Hold], matched: dict[str, SubjectRequest], customers: pa.Table) -> pa.Table:
    """`processing_restrictions`: one row per requesting person kept by a retention hold."""
    line_of = dict(zip(customers.column("customer_no").to_pylist(), customers.column(LINE_COLUMN).to_pylist(),
                       strict=True))
    rows = sorted(held)
    return pa.table({
        "customer_no": pa.array(rows, pa.string()),
        "restriction": pa.array(["RETENTION_HOLD"] * len(rows), pa.string()),
        "request_type": pa.array([matched[c].request_type for c in rows], pa.string()),
        "request_ref": pa.array([matched[c].request_ref for c in rows], pa.string()),
        "hold_until": pa.array([held[c].until for c in rows], pa.date32()),
        "basis": pa.array([held[c].basis for c in rows], pa.string()),
        "source_line": pa.array([line_of[c] for c in rows], pa.int64()),
    })


def _held_listing(held: dict[str, Hold], customers: pa.Table, source_file: str, token_column: str | None) -> list:
    numbers = customers.column("customer_no").to_pylist()
    lines = customers.column(LINE_COLUMN).to_pylist()
    tokens = customers.column(token_column).to_pylist() if token_column else [None] * len(numbers)
    out = []
    for number, line, token in sorted(zip(numbers, lines, tokens, strict=True), key=lambda r: r[1]):
        if number in held:
            out.append({"source_file": source_file, "source_line": line, "id_token": token,
                        "hold_until": held[number].until.isoformat() if held[number].until else None,
                        "basis": held[number].basis})
    return out


def _requests_summary(inp: PlanInputs, matched: dict, unmatched: int, held: dict[str, Hold],
                      suppressed: set[str], lines: dict[str, list[int]]) -> dict[str, Any]:
    customers = inp.tables[CUSTOMERS]
    lookup = inp.id_lookup
    token_column = lookup.column if lookup and lookup.pseudonymous and lookup.column in customers.column_names else None
    return {
        "requests": len(inp.requests),
        "by_type": dict(sorted(Counter(r.request_type for r in inp.requests).items())),
        "requests_matching_no_loaded_person": unmatched,
        "persons_matched": len(matched),
        "persons_suppressed": len(suppressed),
        "rows_suppressed": {e: len(v) for e, v in lines.items()},
        "persons_held": len(held),
        "held": _held_listing(held, customers, inp.mapping.entities[CUSTOMERS].source.file, token_column),
    }


def _notice_summary(manifest: pa.Table) -> dict[str, Any]:
    def counts(column: str) -> dict[str, int]:
        return dict(sorted(Counter(manifest.column(column).to_pylist()).items()))

    return {"rows": manifest.num_rows, "by_channel": counts("channel"), "by_status": counts("status"),
            "by_addressee": counts("addressee")}


def consent_status(people: list[Person], consents: pa.Table | None, extra: Events, purposes: list[str],
                   declared: frozenset[str], as_of: date, chunk: int = CONSENT_CHUNK) -> pa.Table:
    """`consent_status` for every person, decided a chunk of persons at a time (bounded memory on big books).

    `consents`: the loaded consent events (buyer shape); `extra`: quarantined and re-consent events by customer.
    """
    people = sorted(people, key=lambda p: p.customer_no)
    parts = []
    for start in range(0, len(people), chunk):
        group = people[start:start + chunk]
        numbers = [p.customer_no for p in group]
        events: Events = {}
        if consents is not None and consents.num_rows:
            mine = consents.filter(pc.fill_null(pc.is_in(consents.column("customer_no"),
                                                         value_set=pa.array(numbers, pa.string())), False))
            events = events_from_table(mine)
        events = merge_events(events, {c: extra[c] for c in numbers if c in extra})
        parts.append(consent_status_table(group, events, purposes, declared, as_of))
    return pa.concat_tables(parts) if parts else consent_status_table([], {}, purposes, declared, as_of)


def build_plan(inp: PlanInputs) -> LoadPlan:
    """Check purposes, apply data-subject requests, decide consent, build the manifest; see the module doc."""
    settings, as_of = inp.settings, inp.as_of
    permitted = permitted_purposes(seller_purposes(inp.mapping, inp.tables.get(CONSENTS)))
    reconsented = frozenset(e.purpose for events in inp.reconsent_events.values() for e in events)
    check_buyer_purposes(settings.buyer_purposes, permitted, reconsented)

    holds = person_holds(inp.tables[POLICIES], inp.tables[PARTIES], as_of) if inp.requests else {}
    matched, unmatched = match_requests(inp.requests, inp.tables[CUSTOMERS], inp.id_lookup, inp.normalize_customer_no,
                                        inp.merged_aliases)
    held = _holds_for(matched, holds, as_of)
    suppressed = set(matched) - set(held)
    kept, lines = cascade(inp.mapping, inp.tables, suppressed)

    customers = kept[CUSTOMERS]
    persons = customers.filter(natural_persons(customers))
    roles = roles_by_customer(kept[POLICIES], kept[PARTIES])
    people = [Person(c, inp.birth_dates.get(c), frozenset(roles.get(c, ())), restricted=c in held)
              for c in persons.column("customer_no").to_pylist()]
    guardian = {p.customer_no for p in people if needs_guardian(p.birth_date, as_of)}
    declared = frozenset(settings.buyer_purposes)
    status = consent_status(people, kept.get(CONSENTS), merge_events(inp.quarantined_events, inp.reconsent_events),
                            purpose_order(permitted, reconsented, declared), declared, as_of)
    manifest = notification_manifest(persons, roles, policyholder_of(kept[POLICIES], kept[PARTIES]), guardian,
                                     settings)
    tables = [TableLoad(e, kept[e], tuple(spec.key)) for e, spec in inp.mapping.entities.items()]
    tables += [TableLoad(CONSENT_STATUS, status, STATUS_KEY), TableLoad(MANIFEST, manifest, MANIFEST_KEY),
               TableLoad(RESTRICTIONS, restrictions_table(held, matched, customers), ("customer_no",))]
    summary = {
        "as_of_date": as_of.isoformat(),
        "buyer_purposes": list(settings.buyer_purposes),
        "permitted_purposes": sorted(permitted),
        "reconsented_purposes": sorted(reconsented),
        "data_subject_requests": _requests_summary(inp, matched, unmatched, held, suppressed, lines),
        "consent": {**status_summary(status),
                    "quarantined_events_considered": sum(len(v) for v in inp.quarantined_events.values()),
                    "reconsent_events": sum(len(v) for v in inp.reconsent_events.values())},
        "notices": _notice_summary(manifest),
        "rows": {t.name: t.rows.num_rows for t in tables},
    }
    return LoadPlan(tables, lines, summary)
