"""The stages of one transfer run as plain functions: what the DAG tasks, the CLI and the benchmarks call.

Stages hand over Parquet files under `{staging}/{transfer_id}/{run_id}/{stage}/` and return small dicts of
paths and counts (safe for XCom). No function here imports Airflow.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from booktransfer.extract.sources import DropSource
from booktransfer.load.settings import TransferSettings
from booktransfer.mapping.loader import MappingSet, load_mapping_set

if TYPE_CHECKING:
    import pyarrow as pa

    from booktransfer.extract.security_events import SecurityEventLog
    from booktransfer.protect.keyring import Keyring

ENTITY_STAGES = ("raw", "mapped", "checked", "valid", "protected")
FINDING_LINES = 20  # source lines kept per identifier finding when partitions' findings are merged
READ_THREADS = 2  # staged files a book-level step reads at a time (`RunContext.read_many`)
log = logging.getLogger(__name__)


def project_home() -> Path:
    """The project root: `BOOKTRANSFER_HOME`, else the folder that holds `plugins/booktransfer`."""
    env = os.environ.get("BOOKTRANSFER_HOME")
    return Path(env) if env else Path(__file__).resolve().parents[2]


def safe_segment(value: str) -> str:
    """A run or transfer id as one path segment (Airflow run ids hold ':' and '+')."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", value).strip("._")
    if not cleaned:
        raise ValueError(f"{value!r} cannot be used as a path segment")
    return cleaned


@dataclass(frozen=True)
class RunContext:
    """Everything a stage needs to find its inputs and outputs. Holds names and paths, never secrets.

    The one exception is `keys`: the keyring orchestration resolved from the `booktransfer_keyring`
    Airflow connection, handed over in memory (kept out of repr, comparisons and anything serialized).
    Without it, stages use the local default (`load_keyring`). `as_of` is the run's date (age bands, who
    is under 14, whose retention hold has ended). `settings` holds the consent, data-subject request and
    notice settings the load stage needs. `max_reject_rate` is the share of an entity's source rows that may
    fail their own checks before the validate stage stops the run.

    `partitions` splits the book into that many partitions (booktransfer.partitioning); a context with
    `partition` set is one partition's view (`for_partition`): its `stage_path`, `rejects_path` and
    `doc_path` name that partition's files. With one partition, partition 0's files are the book's own
    (`{stage}/{entity}.parquet`). `staging_root` (or `BOOKTRANSFER_STAGING`) is a folder or an fsspec URL
    (booktransfer.storage).
    """

    transfer_id: str
    run_id: str
    mapping_set: str
    target_url: str
    dry_run: bool = False
    home: Path | None = None
    staging_root: Path | str | None = None
    reports_root: Path | None = None
    keys: Keyring | None = field(default=None, repr=False, compare=False)
    as_of: date | None = None
    settings: TransferSettings = field(default_factory=TransferSettings)
    max_reject_rate: float = 0.10
    flat_report: bool = False
    partitions: int = 1
    partition: int | None = None
    verified: bool = False  # reconcile: every partition's share was checked by the verify tasks of this run

    @cached_property
    def keyring(self) -> Keyring:
        """The keyring of this run: the one handed over by orchestration, else the environment or key file."""
        if self.keys is not None:
            return self.keys
        from booktransfer.protect.keyring import load_keyring

        return load_keyring()

    def read_staged(self, path: Path, columns: list[str] | None = None) -> pa.Table:
        """Read a staged Parquet file (encrypted at rest with the keyring's staging key)."""
        from booktransfer.protect.staging import read_staged

        return read_staged(path, self.keyring, columns)

    def read_many(self, reads: list[tuple[Path, list[str] | None]]) -> list[pa.Table]:
        """`read_staged` of several files, `READ_THREADS` at a time (Parquet decoding and decryption run outside
        the GIL: a book-level step reading every partition's files uses both cores); in the order given."""
        if len(reads) < 2:
            return [self.read_staged(path, columns) for path, columns in reads]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=READ_THREADS, thread_name_prefix="staged-read") as pool:
            return list(pool.map(lambda read: self.read_staged(*read), reads))

    def staged_schema(self, path: Path) -> pa.Schema:
        """The Arrow schema of a staged file (decrypting its footer only)."""
        from booktransfer.protect.staging import read_staged_schema

        return read_staged_schema(path, self.keyring)

    def write_staged(self, table: pa.Table, path: Path) -> str:
        """Write a staged Parquet file encrypted at rest, atomically."""
        from booktransfer.protect.staging import write_staged

        return write_staged(table, path, self.keyring)

    @property
    def root(self) -> Path:
        """The project folder holding mappings/, expectations/ and schemas/."""
        return self.home or project_home()

    @property
    def run_dir(self) -> Path:
        """This run's staging folder (a `Path`, or an fsspec `UPath` for a staging URL)."""
        from booktransfer.storage import staging_path

        staging = self.staging_root or os.environ.get("BOOKTRANSFER_STAGING") or self.root / "var" / "staging"
        return staging_path(staging) / safe_segment(self.transfer_id) / safe_segment(self.run_id)

    def for_partition(self, partition: int) -> RunContext:
        """This run's context for one partition (the keyring in memory is handed on)."""
        from dataclasses import replace

        if not 0 <= partition < self.partitions:
            raise ValueError(f"partition {partition} out of range: the run has {self.partitions} partition(s)")
        return replace(self, partition=partition)

    @property
    def book(self) -> RunContext:
        """This run's context for the whole book (no partition)."""
        from dataclasses import replace

        return self if self.partition is None else replace(self, partition=None)

    @property
    def partition_label(self) -> str | None:
        """`part-002-of-004` in a partition's context of a run with several partitions, else None."""
        part = self._part()
        return f"{part}-of-{self.partitions:03d}" if part else None

    def partition_contexts(self) -> list[RunContext]:
        """One context per partition, in order."""
        return [self.for_partition(p) for p in range(self.partitions)]

    def _part(self) -> str | None:
        """The partition's folder name, or None for the book (or a book of one partition)."""
        from booktransfer.partitioning import part_name

        return part_name(self.partition) if self.partition is not None and self.partitions > 1 else None

    @property
    def report_dir(self) -> Path:
        """Where this run's report goes: `reports/<transfer_id>/<run_id>/`."""
        reports = self.reports_root or Path(os.environ.get("BOOKTRANSFER_REPORTS", self.root / "reports"))
        if self.flat_report:  # a repair pass writes into its own folder inside the run's report
            return reports
        return reports / safe_segment(self.transfer_id) / safe_segment(self.run_id)

    def stage_path(self, stage: str, entity: str) -> Path:
        """The Parquet file one stage writes for one entity (this partition's, in a partition's context)."""
        part = self._part()
        return self.run_dir / stage / part / f"{entity}.parquet" if part else self.run_dir / stage / f"{entity}.parquet"

    def rejects_path(self, stage: str, entity: str) -> Path:
        """The quarantine file one stage writes for one entity (this partition's, in a partition's context)."""
        part = self._part()
        folder = self.run_dir / "rejects" / part if part else self.run_dir / "rejects"
        return folder / f"{stage}_{entity}.parquet"

    def doc_path(self, name: str) -> Path:
        """A JSON record of the run (`extract.json`, `map.json`, ...); a partition's own under `part-NNN/`."""
        part = self._part()
        return self.run_dir / part / name if part else self.run_dir / name

    def read_stage(self, stage: str, entity: str, columns: list[str] | None = None) -> pa.Table:
        """One stage's rows of an entity over the whole book: every partition's file, in partition order."""
        import pyarrow as pa

        contexts = [self] if self.partitions == 1 else self.partition_contexts()
        return pa.concat_tables(self.read_many([(c.stage_path(stage, entity), columns) for c in contexts]))

    def read_rejects(self, stage: str, entity: str) -> pa.Table:
        """One stage's quarantine of an entity over the whole book (validate's is one book-level file)."""
        import pyarrow as pa

        if self.partitions == 1 or stage == "validate":
            return self.read_staged(self.rejects_path(stage, entity))
        contexts = self.partition_contexts()
        return pa.concat_tables(self.read_many([(c.rejects_path(stage, entity), None) for c in contexts]))

    def security_events(self) -> SecurityEventLog:
        """This run's security event log (R36), `{run_dir}/security_events.jsonl`."""
        from booktransfer.extract.security_events import EVENTS_FILE, SecurityEventLog

        return SecurityEventLog(self.run_dir / EVENTS_FILE, self.transfer_id, self.run_id)

    def load_mapping(self) -> MappingSet:
        """The mapping set this run uses."""
        return load_mapping_set(self.root / "mappings" / self.mapping_set)

    def suite_path(self, mapping: MappingSet, entity: str) -> Path:
        """The buyer-schema expectation suite for an entity."""
        return self.root / "expectations" / mapping.spec.buyer_schema / f"{entity}.json"

    def ddl_path(self, mapping: MappingSet) -> Path:
        """The buyer schema's DDL."""
        return self.root / "schemas" / mapping.spec.buyer_schema / "ddl.sql"


def _read(ctx: RunContext, path: Path) -> Any:
    """Read a staged file (encrypted at rest)."""
    return ctx.read_staged(path)


def _write(ctx: RunContext, table: Any, path: Path) -> str:
    """Write a staged file encrypted at rest, atomically (temporary name, then rename)."""
    return ctx.write_staged(table, path)


def _write_json(doc: dict[str, Any], path: Path) -> None:
    from booktransfer.storage import write_text

    write_text(path, json.dumps(doc, ensure_ascii=False, indent=2, default=str))


def read_doc(path: Path) -> Any:
    """A JSON record of the run."""
    return json.loads(path.read_text(encoding="utf-8"))


def _stage_writer(ctx: RunContext, mapping: MappingSet) -> Any:
    """What extract stages each file with: the encrypted writer, routed into partitions when there are several."""
    if ctx.partitions == 1:
        return ctx.write_staged
    from booktransfer.partitioning import Router, RoutingWriter
    from booktransfer.validate.book_rules import load_book_rules

    rules = load_book_rules(ctx.suite_path(mapping, next(iter(mapping.entities))).parent)
    return RoutingWriter(Router(mapping, rules, ctx.partitions), ctx.write_staged,
                         lambda p, stem: ctx.for_partition(p).stage_path("raw", stem))


def run_extract(ctx: RunContext, source: DropSource) -> dict[str, Any]:
    """Land and check the drop; stage each entity as text columns. Returns rows per entity.

    An integrity failure (checksum, row count, control file) or a wrong host key stops the run and is
    recorded as a security event in `{run_dir}/security_events.jsonl`.
    """
    from booktransfer.extract.drop import extract_drop
    from booktransfer.protect.entity import default_as_of
    from booktransfer.storage import local_dir

    mapping = ctx.load_mapping()
    writer = _stage_writer(ctx, mapping)
    staged = extract_drop(source, mapping, local_dir(ctx.run_dir / "landing", "landing"), ctx.run_dir / "raw",
                          ctx.security_events(), write=writer)
    doc = {e.entity: {"source_file": e.source_file, "rows": e.rows, "sha256": e.sha256, "joined_files": {}}
           for e in staged if not e.alias}
    for e in staged:
        if e.alias:
            doc[e.entity]["joined_files"][e.alias] = {"source_file": e.source_file, "rows": e.rows, "sha256": e.sha256}
    one = {(f"{e.entity}.{e.alias}" if e.alias else e.entity): [e.rows] for e in staged}
    parts = {"count": ctx.partitions, "rows": getattr(writer, "rows", one)}
    _write_json({"mapping_set": mapping.spec.name, "mapping_version": mapping.version, "entities": doc,
                 "as_of": (ctx.as_of or default_as_of()).isoformat(), "partitions": parts},
                ctx.run_dir / "extract.json")
    return {"stage": "extract", "rows": {e: d["rows"] for e, d in doc.items()},
            "partitions": list(range(ctx.partitions))}


def run_as_of(ctx: RunContext) -> date:
    """The run's as-of date: the setting, else the day extract recorded (one date for every partition)."""
    if ctx.as_of is not None:
        return ctx.as_of
    doc = ctx.run_dir / "extract.json"
    recorded = read_doc(doc).get("as_of") if doc.exists() else None
    if recorded:
        return date.fromisoformat(recorded)
    from booktransfer.protect.entity import default_as_of

    return default_as_of()


def _partitions_of(ctx: RunContext) -> list[RunContext]:
    """The partitions a stage function works on: the one of a partition's context, else all of them."""
    return [ctx] if ctx.partition is not None else ctx.partition_contexts()


def add_counts(a: Any, b: Any) -> Any:
    """Two partitions' counts added up: numbers add, dicts add key by key, anything else keeps the first."""
    if isinstance(a, dict) and isinstance(b, dict):
        return {k: add_counts(a[k], b[k]) if k in a and k in b else a.get(k, b.get(k)) for k in {**a, **b}}
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        return a + b
    return a


def _sum_rows(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-entity counts of several partitions, added up."""
    out: dict[str, Any] = {}
    for r in results:
        out = add_counts(out, r)
    return out


def run_map(ctx: RunContext) -> dict[str, Any]:
    """Map every entity into the buyer's shape; untranslatable rows go to quarantine."""
    from booktransfer.mapping.apply import map_entity

    mapping = ctx.load_mapping()
    results = []
    for part in _partitions_of(ctx):
        counts, joins = {}, {}
        for entity, spec in mapping.entities.items():
            joined = {j.alias: _read(part, part.stage_path("raw", f"{entity}.{j.alias}")) for j in spec.source.joins}
            result = map_entity(mapping, entity, _read(part, part.stage_path("raw", entity)), joined)
            _write(part, result.table, part.stage_path("mapped", entity))
            _write(part, result.rejects, part.rejects_path("map", entity))
            counts[entity] = {"mapped": result.table.num_rows, "rejects": result.rejects.num_rows}
            joins[entity] = result.joins
        _write_json(joins, part.doc_path("map.json"))
        results.append(counts)
    return {"stage": "map", "partition": ctx.partition, "rows": _sum_rows(results)}


def run_validate(ctx: RunContext) -> dict[str, Any]:
    """Validate every entity (its GX suite, then the book-level rules: merges, references, aggregates); failing
    rows go to quarantine, Data Docs to the report folder. Fails when an entity's reject rate exceeds
    `max_reject_rate` (a dry run only reports it). See booktransfer.validate.stage.

    In a partition's context: that partition's suites only; `run_validate_book` then finishes the stage."""
    from booktransfer.validate.stage import check_partition, run_validate_stage

    if ctx.partition is not None:
        return check_partition(ctx, lambda path: _read(ctx, path), lambda table, path: _write(ctx, table, path))
    if ctx.partitions > 1:
        _write_json(merged_docs(ctx, "map.json"), ctx.run_dir / "map.json")
    return run_validate_stage(ctx, lambda path: _read(ctx, path), lambda table, path: _write(ctx, table, path))


def run_validate_book(ctx: RunContext) -> dict[str, Any]:
    """The validate stage's book-level step, after every partition's suites: the book rules over the whole book
    (on key columns), each partition's valid rows, the quarantine, Data Docs and the reject-rate verdict. Also
    writes the book's `map.json` from the partitions' records."""
    from booktransfer.validate.stage import validate_book_stage

    if ctx.partitions > 1:
        _write_json(merged_docs(ctx, "map.json"), ctx.run_dir / "map.json")
    return validate_book_stage(ctx, lambda path: _read(ctx, path), lambda table, path: _write(ctx, table, path))


def merged_docs(ctx: RunContext, name: str) -> dict[str, Any]:
    """A record every partition writes (`map.json`, `protect.json`), merged over the book: counts added up,
    identifier findings of the same entity, column and kind joined."""
    out: dict[str, Any] = {}
    findings: dict[tuple[str, str, str], dict[str, Any]] = {}
    for part in ctx.partition_contexts():
        doc = read_doc(part.doc_path(name))
        for f in doc.pop("identifier_findings", []):
            mine = findings.setdefault((f["entity"], f["column"], f["kind"]), {**f, "rows": 0, "source_lines": []})
            mine["rows"] += f["rows"]
            mine["source_lines"] = sorted(mine["source_lines"] + f["source_lines"])[:FINDING_LINES]
            mine["source_lines_shown"] = len(mine["source_lines"])
        for entity in doc.get("entities", {}).values():
            entity.pop("identifier_findings", None)
        out = add_counts(out, doc)
    if name == "protect.json":
        out["identifier_findings"] = list(findings.values())
        for entity, info in out.get("entities", {}).items():
            info["identifier_findings"] = [f for f in findings.values() if f["entity"] == entity]
    return out


def run_protect(ctx: RunContext) -> dict[str, Any]:
    """Apply every field's protection (tokens, encryption, generalization, drops) and fingerprint each row.

    `protect.json` records key ids (never keys), the as-of date, what was done per column, and the
    identifiers found in `keep` text fields (by column and source line, never values). In a partition's
    context: that partition only (its own `protect.json`; the next book-level step merges them), after writing
    the partition's valid rows from its checked rows and validate_book's decisions.
    """
    from booktransfer.protect.entity import protect_rows
    from booktransfer.validate.stage import valid_partition

    mapping = ctx.load_mapping()
    ring = ctx.keyring
    as_of = run_as_of(ctx)
    results, found = [], 0
    for part in _partitions_of(ctx):
        counts, entities = {}, {}
        for entity, spec in mapping.entities.items():
            if ctx.partition is not None:  # a protect task: the partition's valid rows first (validate's decisions)
                valid = valid_partition(part, entity, lambda path, part=part: _read(part, path))
                _write(part, valid, part.stage_path("valid", entity))
            else:  # the whole stage after the whole validate stage, which wrote them
                valid = _read(part, part.stage_path("valid", entity))
            result = protect_rows(spec, valid, ring, ctx.transfer_id, as_of)
            _write(part, result.table, part.stage_path("protected", entity))
            counts[entity] = result.table.num_rows
            entities[entity] = result.summary()
        findings = [f for e in entities.values() for f in e["identifier_findings"]]
        _write_json({"key_ids": ring.key_ids, "as_of": as_of.isoformat(), "entities": entities,
                     "identifier_findings": findings}, part.doc_path("protect.json"))
        for f in findings:
            log.warning("protect: %s.%s (kept in clear) holds %s in %d row(s), first source lines %s",
                        f["entity"], f["column"], f["kind"], f["rows"], f["source_lines"][:5])
        results.append(counts)
        found += len(findings)
    if ctx.partition is None and ctx.partitions > 1:
        _write_json(merged_docs(ctx, "protect.json"), ctx.run_dir / "protect.json")
    return {"stage": "protect", "partition": ctx.partition, "rows": _sum_rows(results), "identifier_findings": found}


def run_plan_load(ctx: RunContext) -> dict[str, Any]:
    """Work out what the load will write, writing nothing to the target (what the approval gate shows).

    For the book (after every partition's protection): the buyer's purposes against the seller's consents,
    data-subject requests (suppressed and held persons), every customer's roles, and a look at the target; also
    the book's `protect.json`. In a partition's context (after the book's step): that partition's consent
    decisions, notices and restrictions, staged, and its tables checked against the target."""
    from booktransfer.load.stage import plan_partition, run_plan_stage

    if ctx.partition is not None:
        return plan_partition(ctx, lambda path: _read(ctx, path))
    if ctx.partitions > 1:
        _write_json(merged_docs(ctx, "protect.json"), ctx.run_dir / "protect.json")
    return run_plan_stage(ctx, lambda path: _read(ctx, path))


def run_load(ctx: RunContext) -> dict[str, Any]:
    """Check the buyer's purposes, apply data-subject requests, decide consent, build the notice manifest, and
    load everything into the buyer's database: one lock per transfer, one transaction per table, idempotent
    (a dry run builds and checks everything and writes nothing to the target). See booktransfer.load.

    In a partition's context: that partition's planned tables only (after `run_plan_load` for the book and for the
    partition); partitions of one run load side by side, each table's share in its own transaction."""
    from booktransfer.load.stage import load_partition, run_load_stage

    if ctx.partition is not None:
        return load_partition(ctx, lambda path: _read(ctx, path))
    return run_load_stage(ctx, lambda path: _read(ctx, path))


def run_verify(ctx: RunContext) -> dict[str, Any]:
    """Record-level check of one partition's share of every buyer table (`ctx` a partition's context), read back
    from the target after every partition loaded; `run_reconcile` then adds the shares up (a dry run: nothing)."""
    from booktransfer.reconcile.records import verify_partition

    if ctx.dry_run:
        return {"stage": "verify", "partition": ctx.partition, "dry_run": True}
    summaries = verify_partition(ctx)
    rows = {e: {"expected": s["expected"], "matched": s["matched"], "ok": s["ok"]} for e, s in summaries.items()}
    return {"stage": "verify", "partition": ctx.partition, "rows": rows}


def run_reconcile(ctx: RunContext) -> dict[str, Any]:
    """Check source = loaded + quarantined per entity against the target itself; write the report.

    With several partitions the record-level check goes share by share (`run_verify`), in this task unless the
    context says the run's verify tasks did it (`verified`, the DAG's reconcile task)."""
    from booktransfer.reconcile.report import reconcile

    report = reconcile(ctx)
    return {"stage": "reconcile", "report_dir": str(ctx.report_dir), "verdict": report["verdict"]}
