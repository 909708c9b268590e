"""The load stage of a run: read what protect staged, build the plan, load it (or, on a dry run, only check).

Writes `{run_dir}/load/plan.json` (counts, suppressed source lines, the consent and notice summaries, the
held persons by source line and token) for the reconciliation, and `{run_dir}/load/load.json` with each
table's `transfer_runs` record.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from booktransfer import __version__
from booktransfer.errors import LoadError
from booktransfer.extract.reader import LINE_COLUMN
from booktransfer.load.consent_events import Events, merge_events, quarantined_events, raw_values, read_reconsent
from booktransfer.load.loader import RunInfo, TableLoad, load_share, load_tables
from booktransfer.load.plan import LoadPlan, PlanInputs, build_plan
from booktransfer.load.preflight import preflight
from booktransfer.load.settings import as_of_date
from booktransfer.load.subject_requests import IdLookup, read_requests
from booktransfer.load.subjects import CONSENTS, CUSTOMERS
from booktransfer.load.target import engine_for
from booktransfer.mapping.loader import MappingSet
from booktransfer.mapping.model import FieldSpec, Protection
from booktransfer.mapping.transforms import NORMALIZERS

if TYPE_CHECKING:
    from booktransfer.pipeline import RunContext

log = logging.getLogger(__name__)
Reader = Callable[[Path], pa.Table]
PLAN_FILE, LOAD_FILE = "plan.json", "load.json"
ENCRYPTED = (Protection.ENCRYPT, Protection.ENCRYPT_TOKEN)


def _field(mapping: MappingSet, entity: str, target: str) -> FieldSpec | None:
    spec = mapping.entities.get(entity)
    return next((f for f in spec.fields if f.target == target), None) if spec else None


def normalizer(spec: FieldSpec | None) -> Callable[[list[str]], list[str | None]]:
    """Apply a field's declared normalizers to clear values (as the map stage did to the seller's)."""

    def apply(values: list[str]) -> list[str | None]:
        arr = pa.array(values, pa.string())
        for step in spec.normalize if spec else ():
            arr = NORMALIZERS[step](arr)
        return arr.to_pylist()

    return apply


def id_lookup(mapping: MappingSet, ctx: RunContext) -> IdLookup | None:
    """How customers' ID numbers are stored: clear, a token, a blind index or a deterministic ciphertext."""
    spec = _field(mapping, CUSTOMERS, "id_number")
    if spec is None:
        return None
    norm = normalizer(spec)
    namespace = spec.token_namespace or spec.target

    def tokens_of(values: list[str]) -> list[str | None]:
        from booktransfer.protect.ciphers import tokens

        return tokens(ctx.keyring.token_key, namespace, norm(values))

    def siv_of(values: list[str]) -> list[str | None]:
        from booktransfer.protect.ciphers import deterministic_candidates

        ring = ctx.keyring
        return [c for v in norm(values) if v for c in deterministic_candidates(ring, spec.target, v)]

    if spec.protection is Protection.KEEP:
        return IdLookup(spec.target, norm, pseudonymous=False)
    if spec.protection is Protection.TOKEN:
        return IdLookup(spec.target, tokens_of)
    if spec.protection is Protection.ENCRYPT_TOKEN:
        return IdLookup(f"{spec.target}_token", tokens_of)
    if spec.protection is Protection.ENCRYPT and spec.deterministic:
        return IdLookup(spec.target, siv_of)
    return None


def _check_contacts_encrypted(mapping: MappingSet) -> None:
    for column in ("mobile", "address"):
        spec = _field(mapping, CUSTOMERS, column)
        if spec is not None and spec.protection not in ENCRYPTED:
            raise LoadError(f"notification manifest: customers.{column} is not encrypted by the mapping "
                            f"(protection {spec.protection}); the manifest would carry it in the clear")


def _birth_date_table(ctx: RunContext, read: Reader, customers: pa.Table) -> pa.Table:
    """Clear birth dates (customer_no, birth_date): from the protected rows when kept as dates, else from the
    validated rows."""
    if "birth_date" not in customers.column_names or not pa.types.is_date(customers.schema.field("birth_date").type):
        return read(ctx.stage_path("valid", CUSTOMERS)).select(["customer_no", "birth_date"])
    return customers.select(["customer_no", "birth_date"])


def _birth_dates(ctx: RunContext, read: Reader, customers: pa.Table) -> dict[str, date | None]:
    """Clear birth dates by customer number (`_birth_date_table`)."""
    source = _birth_date_table(ctx, read, customers)
    return dict(zip(source.column("customer_no").to_pylist(), source.column("birth_date").to_pylist(), strict=True))


def _quarantined(ctx: RunContext, read: Reader, mapping: MappingSet) -> Events:
    spec = mapping.entities.get(CONSENTS)
    if spec is None:
        return {}
    if ctx.partition is None and ctx.partitions > 1:  # the book: every partition's (a person's are in one)
        return merge_events(*(_quarantined(part, read, mapping) for part in ctx.partition_contexts()))
    lines: set[int] = set()
    for path in (ctx.rejects_path("map", CONSENTS), ctx.book.rejects_path("validate", CONSENTS)):
        if path.exists():
            rejects = read(path)
            own = rejects.filter(pc.equal(rejects.column("source_file"), spec.source.file))
            lines.update(own.column("source_line").to_pylist())
    if not lines:
        return {}
    return quarantined_events(mapping, CONSENTS, read(ctx.stage_path("raw", CONSENTS)), lines)


def run_as_of(ctx: RunContext) -> date:
    """The run's as-of date: the setting, else the one protect used (recorded in protect.json), else today."""
    if ctx.as_of is not None:
        return ctx.as_of
    protect = ctx.run_dir / "protect.json"
    recorded = json.loads(protect.read_text(encoding="utf-8")).get("as_of") if protect.exists() else None
    return as_of_date(recorded)


def merged_aliases(ctx: RunContext, read: Reader, mapping: MappingSet, customers: pa.Table) -> dict[str, str]:
    """Customer numbers validation merged into a survivor (same person, R17) -> the survivor's number.

    Read from validation's `merges/customers.parquet` (merged source line -> survivor's line), the raw rows
    (the merged number as the seller wrote it, normalized like the mapping does) and the loaded customers.
    """
    path = ctx.run_dir / "merges" / f"{CUSTOMERS}.parquet"
    spec = _field(mapping, CUSTOMERS, "customer_no")
    if not path.exists() or spec is None:
        return {}
    merges = read(path)
    if not merges.num_rows:
        return {}
    raw = ctx.read_stage("raw", CUSTOMERS)
    raw = raw.filter(pc.is_in(raw.column(LINE_COLUMN), value_set=merges.column("source_line").combine_chunks()))
    merged_no = dict(zip(raw.column(LINE_COLUMN).to_pylist(), raw_values(spec, raw), strict=True))
    survivor_no = dict(zip(customers.column(LINE_COLUMN).to_pylist(), customers.column("customer_no").to_pylist(),
                           strict=True))
    out = {}
    for line, survivor in zip(merges.column("source_line").to_pylist(), merges.column("survivor_line").to_pylist(),
                              strict=True):
        if merged_no.get(line) and survivor_no.get(survivor):
            out[merged_no[line]] = survivor_no[survivor]
    return out


def make_plan(ctx: RunContext, read: Reader) -> LoadPlan:
    """Read the protected entities and the transfer's request files; build the load plan."""
    mapping = ctx.load_mapping()
    settings = ctx.settings
    _check_contacts_encrypted(mapping)
    tables = {e: ctx.read_stage("protected", e) for e in mapping.entities}
    requests = read_requests(settings.suppression_file) if settings.suppression_file else []
    reconsent = read_reconsent(settings.reconsent_file) if settings.reconsent_file else {}
    return build_plan(PlanInputs(
        mapping=mapping, tables=tables, birth_dates=_birth_dates(ctx, read, tables[CUSTOMERS]), settings=settings,
        as_of=run_as_of(ctx),
        quarantined_events=_quarantined(ctx, read, mapping), reconsent_events=reconsent, requests=requests,
        id_lookup=id_lookup(mapping, ctx), normalize_customer_no=normalizer(_field(mapping, CUSTOMERS, "customer_no")),
        merged_aliases=merged_aliases(ctx, read, mapping, tables[CUSTOMERS]) if requests else {},
    ))


def _write_json(doc: dict[str, Any], path: Path) -> None:
    from booktransfer.storage import write_text

    write_text(path, json.dumps(doc, ensure_ascii=False, indent=2, default=str))


def _sqlite_file_missing(url: str) -> bool:
    if not url.startswith("sqlite:///"):
        return False
    path = url.removeprefix("sqlite:///").split("?", 1)[0]
    return bool(path) and not Path(path).exists()


def _dry_run_target(ctx: RunContext, plan: LoadPlan, mapping: MappingSet) -> str:
    tables = {t.name: t.rows for t in plan.tables}
    if _sqlite_file_missing(ctx.target_url):
        return preflight(None, ctx.ddl_path(mapping), tables, dry_run=True)
    engine = engine_for(ctx.target_url)
    try:
        return preflight(engine, ctx.ddl_path(mapping), tables, dry_run=True)
    finally:
        engine.dispose()


def run_plan_stage(ctx: RunContext, read: Reader) -> dict[str, Any]:
    """The load's book-level step (the DAG's plan_load): the decisions that need the whole book
    (booktransfer.load.partitioned.plan_book), and a look at the target that writes nothing."""
    from booktransfer.load.partitioned import plan_book

    summary = plan_book(ctx, read)
    return {"stage": "plan_load", "target": _target_state(ctx), "partitions": ctx.partitions,
            "suppressed": summary["data_subject_requests"]["rows_suppressed"]}


def _target_state(ctx: RunContext) -> str:
    """What a load would find in the target: the buyer schema checked (tables, columns, types), nothing written."""
    from booktransfer.consent.table import status_schema
    from booktransfer.load.manifest import manifest_schema

    mapping = ctx.load_mapping()
    tables = {e: ctx.staged_schema(ctx.for_partition(0).stage_path("protected", e)).empty_table()
              for e in mapping.entities}
    tables |= {"consent_status": status_schema().empty_table(),
               "notification_manifest": manifest_schema().empty_table()}
    plan = LoadPlan([TableLoad(name, t, ()) for name, t in tables.items()], {}, {})
    return _dry_run_target(ctx, plan, mapping)


def plan_partition(ctx: RunContext, read: Reader) -> dict[str, Any]:
    """One partition's load plan (`ctx` a partition's context, after `run_plan_stage`): its consent decisions,
    notices and restrictions staged under `load/`, its counts recorded, and every table it would load checked
    against the target without writing (so every partition is checked before any partition writes)."""
    from booktransfer.load.partitioned import partition_plan, stage_plan

    mapping = ctx.load_mapping()
    plan = partition_plan(ctx, read)
    stage_plan(ctx, plan)
    state = _dry_run_target(ctx, plan, mapping)
    return {"stage": "plan_load", "partition": ctx.partition, "target": state, "rows": plan.summary["rows"]}


def load_partition(ctx: RunContext, read: Reader) -> dict[str, Any]:
    """One partition's load (`ctx` a partition's context, or the book of one partition, after `plan_partition`):
    its planned tables into the buyer's database. Returns counts only (safe for XCom)."""
    from booktransfer.load.lock import run_tag
    from booktransfer.load.partitioned import planned_tables

    mapping = ctx.load_mapping()
    tables = planned_tables(ctx, read)
    if ctx.dry_run:
        return {"stage": "load", "partition": ctx.partition, "dry_run": True,
                "rows": {t.name: t.rows.num_rows for t in tables}}
    run = RunInfo(ctx.transfer_id, ctx.run_id, mapping.spec.name, mapping.version, __version__)
    name = f"booktransfer load {run_tag(ctx.transfer_id, ctx.run_id)} {ctx.transfer_id} {ctx.run_id}"
    engine = engine_for(ctx.target_url, application_name=name)
    try:
        if ctx.partitions == 1:
            state, records = load_tables(engine, run, tables, ctx.ddl_path(mapping))
        else:
            state, records = load_share(engine, run, tables, ctx.ddl_path(mapping), ctx.partitions)
    finally:
        engine.dispose()
    _write_json({"target": state, "tables": [r.as_dict() for r in records]}, ctx.doc_path(f"load/{LOAD_FILE}"))
    table = {r.entity: r.entity.split("#", 1)[0] for r in records}  # a share's record: <table>#<partition>
    return {"stage": "load", "partition": ctx.partition, "dry_run": False, "target": state,
            "rows": {table[r.entity]: r.rows_loaded for r in records},
            "written": {table[r.entity]: r.rows_written for r in records}}


def run_load_stage(ctx: RunContext, read: Reader) -> dict[str, Any]:
    """The whole load stage (the book's decisions, every partition's plan, then every partition's load); returns
    counts only (safe for XCom)."""
    from booktransfer.pipeline import add_counts

    plan = run_plan_stage(ctx, read)
    for part in ctx.partition_contexts():
        plan_partition(part, read)
    out: dict[str, Any] = {}
    for part in ctx.partition_contexts():
        out = add_counts(out, load_partition(part, read))
    out.update(stage="load", partition=None, suppressed=plan["suppressed"])
    return out


def read_plan_summary(ctx: RunContext) -> dict[str, Any] | None:
    """The load plan this run wrote (summary and suppressed lines), or None before the load stage ran: the book's
    decisions with every partition's counts (consent, notices, rows) added up."""
    from booktransfer.load.partitioned import read_plan

    return read_plan(ctx)


def suppressed_lines(ctx: RunContext, entity: str) -> list[int]:
    """Source lines of an entity that data-subject requests kept out of the load (empty before the load)."""
    plan = read_plan_summary(ctx)
    return list(plan["suppressed_lines"].get(entity, [])) if plan else []


def without_suppressed(ctx: RunContext, entity: str, table: pa.Table) -> pa.Table:
    """A staged table of an entity without the rows data-subject requests kept out of the load."""
    lines = suppressed_lines(ctx, entity)
    if not lines:
        return table
    return table.filter(pc.invert(pc.is_in(table.column(LINE_COLUMN), value_set=pa.array(lines, pa.int64()))))
