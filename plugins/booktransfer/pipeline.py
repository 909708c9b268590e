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

ENTITY_STAGES = ("raw", "mapped", "valid", "protected")
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
    """

    transfer_id: str
    run_id: str
    mapping_set: str
    target_url: str
    dry_run: bool = False
    home: Path | None = None
    staging_root: Path | None = None
    reports_root: Path | None = None
    keys: Keyring | None = field(default=None, repr=False, compare=False)
    as_of: date | None = None
    settings: TransferSettings = field(default_factory=TransferSettings)
    max_reject_rate: float = 0.10
    flat_report: bool = False

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
        """This run's staging folder."""
        staging = self.staging_root or Path(os.environ.get("BOOKTRANSFER_STAGING", self.root / "var" / "staging"))
        return staging / safe_segment(self.transfer_id) / safe_segment(self.run_id)

    @property
    def report_dir(self) -> Path:
        """Where this run's report goes: `reports/<transfer_id>/<run_id>/`."""
        reports = self.reports_root or Path(os.environ.get("BOOKTRANSFER_REPORTS", self.root / "reports"))
        if self.flat_report:  # a repair pass writes into its own folder inside the run's report
            return reports
        return reports / safe_segment(self.transfer_id) / safe_segment(self.run_id)

    def stage_path(self, stage: str, entity: str) -> Path:
        """The Parquet file one stage writes for one entity."""
        return self.run_dir / stage / f"{entity}.parquet"

    def rejects_path(self, stage: str, entity: str) -> Path:
        """The quarantine file one stage writes for one entity."""
        return self.run_dir / "rejects" / f"{stage}_{entity}.parquet"

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
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    tmp.replace(path)


def run_extract(ctx: RunContext, source: DropSource) -> dict[str, Any]:
    """Land and check the drop; stage each entity as text columns. Returns rows per entity.

    An integrity failure (checksum, row count, control file) or a wrong host key stops the run and is
    recorded as a security event in `{run_dir}/security_events.jsonl`.
    """
    from booktransfer.extract.drop import extract_drop

    mapping = ctx.load_mapping()
    staged = extract_drop(source, mapping, ctx.run_dir / "landing", ctx.run_dir / "raw", ctx.security_events(),
                          write=ctx.write_staged)
    doc = {e.entity: {"source_file": e.source_file, "rows": e.rows, "sha256": e.sha256, "joined_files": {}}
           for e in staged if not e.alias}
    for e in staged:
        if e.alias:
            doc[e.entity]["joined_files"][e.alias] = {"source_file": e.source_file, "rows": e.rows, "sha256": e.sha256}
    _write_json({"mapping_set": mapping.spec.name, "mapping_version": mapping.version, "entities": doc},
                ctx.run_dir / "extract.json")
    return {"stage": "extract", "rows": {e: d["rows"] for e, d in doc.items()}}


def run_map(ctx: RunContext) -> dict[str, Any]:
    """Map every entity into the buyer's shape; untranslatable rows go to quarantine."""
    from booktransfer.mapping.apply import map_entity

    mapping = ctx.load_mapping()
    counts, joins = {}, {}
    for entity, spec in mapping.entities.items():
        joined = {j.alias: _read(ctx, ctx.run_dir / "raw" / f"{entity}.{j.alias}.parquet") for j in spec.source.joins}
        result = map_entity(mapping, entity, _read(ctx, ctx.stage_path("raw", entity)), joined)
        _write(ctx, result.table, ctx.stage_path("mapped", entity))
        _write(ctx, result.rejects, ctx.rejects_path("map", entity))
        counts[entity] = {"mapped": result.table.num_rows, "rejects": result.rejects.num_rows}
        joins[entity] = result.joins
    _write_json(joins, ctx.run_dir / "map.json")
    return {"stage": "map", "rows": counts}


def run_validate(ctx: RunContext) -> dict[str, Any]:
    """Validate every entity (its GX suite, then the book-level rules: merges, references, aggregates); failing
    rows go to quarantine, Data Docs to the report folder. Fails when an entity's reject rate exceeds
    `max_reject_rate` (a dry run only reports it). See booktransfer.validate.stage."""
    from booktransfer.validate.stage import run_validate_stage

    return run_validate_stage(ctx, lambda path: _read(ctx, path), lambda table, path: _write(ctx, table, path))


def run_protect(ctx: RunContext) -> dict[str, Any]:
    """Apply every field's protection (tokens, encryption, generalization, drops) and fingerprint each row.

    `protect.json` records key ids (never keys), the as-of date, what was done per column, and the
    identifiers found in `keep` text fields (by column and source line, never values).
    """
    from booktransfer.protect.entity import default_as_of, protect_rows

    mapping = ctx.load_mapping()
    ring = ctx.keyring
    as_of = ctx.as_of or default_as_of()
    counts, entities = {}, {}
    for entity, spec in mapping.entities.items():
        result = protect_rows(spec, _read(ctx, ctx.stage_path("valid", entity)), ring, ctx.transfer_id, as_of)
        _write(ctx, result.table, ctx.stage_path("protected", entity))
        counts[entity] = result.table.num_rows
        entities[entity] = result.summary()
    findings = [f for e in entities.values() for f in e["identifier_findings"]]
    _write_json({"key_ids": ring.key_ids, "as_of": as_of.isoformat(), "entities": entities,
                 "identifier_findings": findings}, ctx.run_dir / "protect.json")
    for f in findings:
        log.warning("protect: %s.%s (kept in clear) holds %s in %d row(s), first source lines %s",
                    f["entity"], f["column"], f["kind"], f["rows"], f["source_lines"][:5])
    return {"stage": "protect", "rows": counts, "identifier_findings": len(findings)}


def run_load(ctx: RunContext) -> dict[str, Any]:
    """Check the buyer's purposes, apply data-subject requests, decide consent, build the notice manifest, and
    load everything into the buyer's database: one lock per transfer, one transaction per table, idempotent
    (a dry run builds and checks everything and writes nothing to the target). See booktransfer.load."""
    from booktransfer.load.stage import run_load_stage

    return run_load_stage(ctx, lambda path: _read(ctx, path))


def run_reconcile(ctx: RunContext) -> dict[str, Any]:
    """Check source = loaded + quarantined per entity against the target itself; write the report."""
    from booktransfer.reconcile.report import reconcile

    report = reconcile(ctx)
    return {"stage": "reconcile", "report_dir": str(ctx.report_dir), "verdict": report["verdict"]}
