"""The load stage over partitions: the book's decisions once (`plan_book`), then each partition's plan and load.

`plan_book` (the DAG's plan_load task) reads key columns of every partition's protected rows and decides what
needs the whole book: the buyer's purposes against the seller's consents, the data-subject requests (who is
suppressed with which dependent rows, who is held), and every customer's roles on the loaded policies with the
policyholder to notify through. It writes `load/plan.json` (the book's part of the plan) and, per partition,
`load/part-NNN/subjects.parquet` (customer_no, roles, via_customer_no) and `requests.parquet` (the requests
matched to its customers), both encrypted at rest.

`partition_plan` then builds one partition's tables exactly as `booktransfer.load.plan.build_plan` does for a
whole book: its rows without the suppressed lines, consent per person and purpose, the notices and the
restrictions of its own persons. Each partition records its part of the summary (`part-NNN/load/plan.json`);
`read_plan` adds them up.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from booktransfer.consent.columnar import consent_status_arrays, guardian_needed_array
from booktransfer.consent.model import Role
from booktransfer.consent.purposes import check_buyer_purposes, permitted_purposes, purpose_order
from booktransfer.consent.table import KEY as STATUS_KEY
from booktransfer.consent.table import status_summary
from booktransfer.extract.reader import LINE_COLUMN
from booktransfer.load.consent_events import Events, merge_events, read_reconsent
from booktransfer.load.loader import TableLoad
from booktransfer.load.manifest import KEY as MANIFEST_KEY
from booktransfer.load.manifest import manifest_table, role_flags
from booktransfer.load.plan import (
    CONSENT_STATUS,
    MANIFEST,
    RESTRICTIONS,
    LoadPlan,
    PlanInputs,
    _holds_for,
    _notice_summary,
    _requests_summary,
    cascade,
    restrictions_table,
    seller_purposes,
)
from booktransfer.load.retention import Hold, person_holds
from booktransfer.load.subject_requests import SubjectRequest, match_requests, read_requests
from booktransfer.load.subjects import CONSENTS, CUSTOMERS, PARTIES, POLICIES, natural_persons
from booktransfer.partitioning import PART_COLUMN, with_partitions

if TYPE_CHECKING:
    from booktransfer.pipeline import RunContext

Reader = Callable[[Path], pa.Table]
SUBJECTS, REQUESTS = "subjects", "requests"
PART_PLAN = "part-plan.json"  # a partition's counts of the plan (consent, notices, rows)
# Columns of the example buyer schema the book-level decisions read (keys and references are added).
BOOK_COLUMNS = {CUSTOMERS: ("customer_no", "customer_type", "id_type"),
                POLICIES: ("policy_no", "holder_customer_no", "status", "issue_date", "expiry_date"),
                PARTIES: ("policy_no", "customer_no", "role"), CONSENTS: ("customer_no", "purpose")}


def _book_columns(ctx: RunContext, mapping: Any, lookup_column: str | None) -> dict[str, list[str]]:
    out: dict[str, set[str]] = {e: {*spec.key, LINE_COLUMN} for e, spec in mapping.entities.items()}
    for entity, spec in mapping.entities.items():
        out[entity].update(BOOK_COLUMNS.get(entity, ()))
        for f in spec.fields:
            if f.references:
                parent, column = f.references.split(".")
                out[entity].add(f.target)
                out[parent].add(column)
    if lookup_column and CUSTOMERS in out:
        out[CUSTOMERS].add(lookup_column)
    schema = {e: set(ctx.staged_schema(ctx.for_partition(0).stage_path("protected", e)).names) for e in out}
    return {e: sorted(c for c in cols if c in schema[e]) for e, cols in out.items()}


def read_book_keys(ctx: RunContext, mapping: Any, lookup_column: str | None) -> dict[str, pa.Table]:
    """Key columns of every partition's protected rows, with each row's partition in `__part`."""
    columns = _book_columns(ctx, mapping, lookup_column)
    out = {}
    for entity in mapping.entities:
        tables = ctx.read_many([(part.stage_path("protected", entity), columns[entity])
                                for part in ctx.partition_contexts()])
        out[entity] = with_partitions(tables)
    return out


def subjects_table(policies: pa.Table, parties: pa.Table) -> pa.Table:
    """Per customer on the loaded policies: roles (HOLDER, INSURED, BENEFICIARY as in the manifest's order) and,
    for insured persons and beneficiaries, the holder of their first policy by policy number (`via_customer_no`);
    vectorised `roles_by_customer` and `policyholder_of`."""
    holders = pa.table({"customer_no": policies.column("holder_customer_no").combine_chunks(),
                        "role": pa.array([Role.HOLDER.value] * policies.num_rows, pa.string())})
    pairs = pa.concat_tables([holders, parties.select(["customer_no", "role"]).cast(holders.schema)])
    pairs = pairs.filter(pc.and_(pc.is_valid(pairs.column("customer_no")), pc.is_valid(pairs.column("role"))))
    distinct = pairs.group_by(["customer_no", "role"]).aggregate([])
    roles = distinct.group_by("customer_no").aggregate([("role", "list")])
    roles = pa.table({"customer_no": roles.column("customer_no"),
                      "role_list": pc.binary_join(roles.column("role_list"), ",")})
    linked = parties.select(["policy_no", "customer_no"]).join(
        policies.select(["policy_no", "holder_customer_no"]), keys="policy_no", join_type="inner", use_threads=False)
    linked = linked.filter(pc.fill_null(pc.not_equal(linked.column("customer_no"),
                                                     linked.column("holder_customer_no")), False))
    linked = linked.sort_by([("customer_no", "ascending"), ("policy_no", "ascending")])
    via = linked.group_by("customer_no", use_threads=False).aggregate([("holder_customer_no", "first")])
    out = roles.join(via, keys="customer_no", join_type="left outer", use_threads=False)
    return pa.table({"customer_no": out.column("customer_no"), "roles": out.column("role_list"),
                     "via_customer_no": out.column("holder_customer_no_first")})


def _matched_table(matched: dict[str, SubjectRequest], held: dict[str, Hold]) -> pa.Table:
    rows = sorted(matched)
    return pa.table({
        "customer_no": pa.array(rows, pa.string()),
        "request_line": pa.array([matched[c].line for c in rows], pa.int64()),
        "request_type": pa.array([matched[c].request_type for c in rows], pa.string()),
        "request_ref": pa.array([matched[c].request_ref for c in rows], pa.string()),
        "request_hold_until": pa.array([matched[c].hold_until for c in rows], pa.date32()),
        "held": pa.array([c in held for c in rows], pa.bool_()),
        "hold_until": pa.array([held[c].until if c in held else None for c in rows], pa.date32()),
        "basis": pa.array([held[c].basis if c in held else None for c in rows], pa.string()),
    })


def _holds_of(matched: set[str], policies: pa.Table, parties: pa.Table, as_of: date) -> dict[str, Hold]:
    """Retention holds of the matched persons only (from the policies they hold or are a party to)."""
    if not matched:
        return {}
    wanted = pa.array(sorted(matched), pa.string())
    mine = parties.filter(pc.fill_null(pc.is_in(parties.column("customer_no"), value_set=wanted), False))
    involved = pc.or_(pc.fill_null(pc.is_in(policies.column("holder_customer_no"), value_set=wanted), False),
                      pc.fill_null(pc.is_in(policies.column("policy_no"),
                                            value_set=mine.column("policy_no").combine_chunks()), False))
    return person_holds(policies.filter(involved), mine, as_of)


def plan_book(ctx: RunContext, read: Reader) -> dict[str, Any]:
    """The book-level decisions of the load (see the module doc); returns the book's summary."""
    from booktransfer.load.stage import _check_contacts_encrypted, _field, id_lookup, merged_aliases, normalizer
    from booktransfer.pipeline import run_as_of

    mapping, settings, as_of = ctx.load_mapping(), ctx.settings, run_as_of(ctx)
    _check_contacts_encrypted(mapping)
    lookup = id_lookup(mapping, ctx)
    tables = read_book_keys(ctx, mapping, lookup.column if lookup else None)
    permitted = permitted_purposes(seller_purposes(mapping, tables.get(CONSENTS)))
    reconsent = read_reconsent(settings.reconsent_file) if settings.reconsent_file else {}
    reconsented = frozenset(e.purpose for events in reconsent.values() for e in events)
    check_buyer_purposes(settings.buyer_purposes, permitted, reconsented)
    requests = read_requests(settings.suppression_file) if settings.suppression_file else []
    aliases = merged_aliases(ctx, read, mapping, tables[CUSTOMERS]) if requests else {}
    matched, unmatched = match_requests(requests, tables[CUSTOMERS], lookup,
                                        normalizer(_field(mapping, CUSTOMERS, "customer_no")), aliases)
    held = _holds_for(matched, _holds_of(set(matched), tables[POLICIES], tables[PARTIES], as_of), as_of)
    suppressed = set(matched) - set(held)
    kept, lines = cascade(mapping, tables, suppressed)
    subjects = subjects_table(kept[POLICIES], kept[PARTIES])
    requests_of = _matched_table(matched, held)
    customers = tables[CUSTOMERS]
    for p, part in enumerate(ctx.partition_contexts()):
        mine = customers.filter(pc.equal(customers.column(PART_COLUMN), p)).column("customer_no").combine_chunks()
        ctx.write_staged(subjects.filter(pc.is_in(subjects.column("customer_no"), value_set=mine)),
                         part.doc_path(f"load/{SUBJECTS}.parquet"))
        ctx.write_staged(requests_of.filter(pc.is_in(requests_of.column("customer_no"), value_set=mine)),
                         part.doc_path(f"load/{REQUESTS}.parquet"))
    inputs = PlanInputs(mapping=mapping, tables={CUSTOMERS: customers}, birth_dates={}, settings=settings,
                        as_of=as_of, requests=requests, id_lookup=lookup)
    summary = {
        "as_of_date": as_of.isoformat(),
        "buyer_purposes": list(settings.buyer_purposes),
        "permitted_purposes": sorted(permitted),
        "reconsented_purposes": sorted(reconsented),
        "data_subject_requests": _requests_summary(inputs, matched, unmatched, held, suppressed, lines),
        "consent": {"reconsent_events": sum(len(v) for v in reconsent.values())},
    }
    _write_plan(ctx.run_dir / "load" / "plan.json", {"summary": summary, "suppressed_lines": lines,
                                                     "partitions": ctx.partitions})
    return summary


def _write_plan(path: Any, doc: dict[str, Any]) -> None:
    from booktransfer.storage import write_text

    write_text(path, json.dumps(doc, ensure_ascii=False, indent=2, default=str))


def _requests_of(table: pa.Table) -> tuple[dict[str, SubjectRequest], dict[str, Hold]]:
    matched, held = {}, {}
    for row in table.to_pylist():
        matched[row["customer_no"]] = SubjectRequest(row["request_line"], row["request_type"], None,
                                                     row["customer_no"], row["request_ref"],
                                                     row["request_hold_until"])
        if row["held"]:
            held[row["customer_no"]] = Hold(row["hold_until"], row["basis"])
    return matched, held


def partition_plan(ctx: RunContext, read: Reader) -> LoadPlan:
    """One partition's load plan (`ctx` a partition's context), from its protected rows and the book's decisions."""
    from booktransfer.load.stage import _birth_date_table, _quarantined
    from booktransfer.pipeline import run_as_of

    mapping, settings, as_of = ctx.load_mapping(), ctx.settings, run_as_of(ctx)
    book = json.loads((ctx.run_dir / "load" / "plan.json").read_text(encoding="utf-8"))
    suppressed = book["suppressed_lines"]
    kept = {}
    for entity in mapping.entities:
        table = read(ctx.stage_path("protected", entity))
        gone = pa.array(suppressed.get(entity, []), pa.int64())
        kept[entity] = table.filter(pc.invert(pc.is_in(table.column(LINE_COLUMN), value_set=gone))) if len(gone) \
            else table
    subjects = read(ctx.doc_path(f"load/{SUBJECTS}.parquet"))
    matched, held = _requests_of(read(ctx.doc_path(f"load/{REQUESTS}.parquet")))
    customers = kept[CUSTOMERS]
    persons = customers.filter(natural_persons(customers))
    people = persons.column("customer_no").combine_chunks()
    at = pc.index_in(people, value_set=subjects.column("customer_no").combine_chunks())
    roles = subjects.column("roles").combine_chunks().take(at)
    via = subjects.column("via_customer_no").combine_chunks().take(at)
    births = _birth_date_table(ctx, read, customers)
    guardian = guardian_needed_array(births.column("birth_date").combine_chunks().take(
        pc.index_in(people, value_set=births.column("customer_no").combine_chunks())), as_of)
    reconsent = read_reconsent(settings.reconsent_file) if settings.reconsent_file else {}
    quarantined = _quarantined(ctx, read, mapping)
    if reconsent:
        mine = set(customers.column("customer_no").to_pylist())
        reconsent = {c: e for c, e in reconsent.items() if c in mine}
    extra: Events = merge_events(quarantined, reconsent)
    permitted = frozenset(book["summary"]["permitted_purposes"])
    reconsented = frozenset(book["summary"]["reconsented_purposes"])
    declared = frozenset(settings.buyer_purposes)
    shown, has_roles, not_holder = role_flags(roles)
    restricted = np.asarray(pc.fill_null(pc.is_in(people, value_set=pa.array(list(held), pa.string())), False))
    status = consent_status_arrays(people, guardian, has_roles, not_holder, restricted, kept.get(CONSENTS), extra,
                                   purpose_order(permitted, reconsented, declared), declared)
    manifest = manifest_table(persons, shown, not_holder, via, guardian, settings)
    share = ctx.partition_label
    tables = [TableLoad(e, kept[e], tuple(spec.key), share) for e, spec in mapping.entities.items()]
    tables += [TableLoad(CONSENT_STATUS, status, STATUS_KEY, share), TableLoad(MANIFEST, manifest, MANIFEST_KEY, share),
               TableLoad(RESTRICTIONS, restrictions_table(held, matched, customers), ("customer_no",), share)]
    summary = {"consent": {**status_summary(status),
                           "quarantined_events_considered": sum(len(v) for v in quarantined.values())},
               "notices": _notice_summary(manifest), "rows": {t.name: t.rows.num_rows for t in tables}}
    return LoadPlan(tables, {e: [line for line in suppressed.get(e, [])] for e in mapping.entities}, summary)


DERIVED = (CONSENT_STATUS, MANIFEST, RESTRICTIONS)


def stage_plan(ctx: RunContext, plan: LoadPlan) -> None:
    """Record a partition's plan: its counts (`part-plan.json`) and its derived tables (consent status, notices,
    restrictions), encrypted at rest under `load/`, for the load to write as planned."""
    for table in plan.tables:
        if table.name in DERIVED:
            ctx.write_staged(table.rows, ctx.doc_path(f"load/{table.name}.parquet"))
    _write_plan(ctx.doc_path(f"load/{PART_PLAN}"), {"summary": plan.summary})


def planned_tables(ctx: RunContext, read: Reader) -> list[TableLoad]:
    """What a partition loads, in load order: its protected rows without the suppressed lines, then the derived
    tables its plan staged (`stage_plan`)."""
    mapping = ctx.load_mapping()
    book = json.loads((ctx.run_dir / "load" / "plan.json").read_text(encoding="utf-8"))
    share = ctx.partition_label
    tables = []
    for entity, spec in mapping.entities.items():
        table = read(ctx.stage_path("protected", entity))
        gone = pa.array(book["suppressed_lines"].get(entity, []), pa.int64())
        if len(gone):
            table = table.filter(pc.invert(pc.is_in(table.column(LINE_COLUMN), value_set=gone)))
        tables.append(TableLoad(entity, table, tuple(spec.key), share))
    keys = {CONSENT_STATUS: STATUS_KEY, MANIFEST: MANIFEST_KEY, RESTRICTIONS: ("customer_no",)}
    return tables + [TableLoad(name, read(ctx.doc_path(f"load/{name}.parquet")), keys[name], share) for name in DERIVED]


def read_plan(ctx: RunContext) -> dict[str, Any] | None:
    """The load plan of the run: the book's part with every partition's counts added (None before plan_load)."""
    from booktransfer.pipeline import add_counts

    path = ctx.run_dir / "load" / "plan.json"
    if not path.exists():
        return None
    doc = json.loads(path.read_text(encoding="utf-8"))
    book = ctx.book
    for part in book.partition_contexts():
        mine = part.doc_path(f"load/{PART_PLAN}")
        if mine.exists():
            doc["summary"] = add_counts(doc["summary"], json.loads(mine.read_text(encoding="utf-8"))["summary"])
    return doc
