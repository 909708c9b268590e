"""The validate stage of a run: every entity's suite, then the book-level rules, then the files and the verdict.

Per partition (`check_partition`, one task each in the DAG): every entity's suite on the partition's mapped rows,
written to `checked/` (see validate.partitioned). Then once for the book (`validate_book_stage`): the book rules
on the key columns of every partition, and the files. With one partition the layout is the book's own.

Reads `mapped/`, `raw/` and the map stage's rejects; writes, per entity, `valid/<entity>.parquet` (the rows
that go on, per partition), `rejects/validate_<entity>.parquet` (quarantine: rule id, column, reason, source
file:line),
`merges/<entity>.parquet` (merged source lines and their survivors) and `warnings/validate_<entity>.parquet`
(rows flagged by severity-warning rules; they still load), all encrypted at rest like every staged file;
`validation.json` (counts only) in the run folder and the report folder; and GX-rendered Data Docs in the
report folder. Then it applies the per-entity reject-rate threshold: above it the run stops (after writing
everything, so the operator can see why), except on a dry run, which only reports the breach.
"""

from __future__ import annotations

import json
import logging
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from booktransfer.errors import ValidationFailed
from booktransfer.extract.reader import LINE_COLUMN
from booktransfer.partitioning import part_name, with_partitions
from booktransfer.quarantine import concat_rejects
from booktransfer.validate.book import CASCADE_REASONS, EntityState, merge_schema, validate_book
from booktransfer.validate.book_rules import load_book_rules
from booktransfer.validate.data_docs import EntityDocs, write_data_docs
from booktransfer.validate.entity import CheckedEntity, check_entity
from booktransfer.validate.gx_suite import build_suite, load_suite_dict
from booktransfer.validate.partitioned import (
    FAILED_COLUMN,
    add_duplicate_failures,
    apply_decisions,
    decisions_table,
    merge_summaries,
    narrow_columns,
    partition_counts,
)

if TYPE_CHECKING:
    from booktransfer.pipeline import RunContext

log = logging.getLogger(__name__)
SUMMARY_FILE = "validation.json"
SUITES_FILE = "suites.json"  # a partition's suite summaries and value-free GX results


def merges_path(ctx: RunContext, entity: str) -> Path:
    """Where the merge records of one entity go."""
    return ctx.run_dir / "merges" / f"{entity}.parquet"


def warnings_path(ctx: RunContext, entity: str) -> Path:
    """Where the warnings (rows flagged, not held back) of one entity go."""
    return ctx.run_dir / "warnings" / f"validate_{entity}.parquet"


def _lines(table: pa.Table) -> set[int]:
    return set(pc.unique(table.column("source_line")).to_pylist()) if table.num_rows else set()


def _with_as_of(doc: dict[str, Any], as_of: date | None) -> dict[str, Any]:
    """The suite with the run's as-of date given to every expectation that takes one and names none."""
    from booktransfer.validate.custom_expectations import AS_OF_TYPES

    if as_of is None:
        return doc
    expectations = []
    for exp in doc.get("expectations", []):
        if exp["type"] in AS_OF_TYPES:
            exp = {**exp, "kwargs": {"as_of": as_of.isoformat(), **exp.get("kwargs", {})}}
        expectations.append(exp)
    return {**doc, "expectations": expectations}


def entity_summary(state: EntityState, source_rows: int | None, map_lines: set[int],
                   warnings: pa.Table) -> dict[str, Any]:
    """Counts, rules and rates of one entity (no values)."""
    rejects = concat_rejects(state.parts + state.checked.rejects)
    cascade = pc.is_in(rejects.column("reason"), value_set=pa.array(sorted(CASCADE_REASONS), pa.string()))
    primary_lines = _lines(rejects.filter(pc.invert(cascade)))
    cascade_lines = _lines(rejects) - primary_lines
    own = len(primary_lines | map_lines)
    rate = own / source_rows if source_rows else 0.0
    by_reason: dict[str, int] = {}
    for reason in rejects.column("reason").to_pylist():
        by_reason[reason] = by_reason.get(reason, 0) + 1
    return {
        **state.checked.summary,
        "source_rows": source_rows,
        "rows_in": state.table.num_rows,
        "rows_valid": int(state.live().sum()),
        "rows_quarantined": int(state.held.sum()),
        "rows_quarantined_primary": len(primary_lines),
        "rows_quarantined_cascade": len(cascade_lines),
        "rows_merged": int(state.merged.sum()),
        "rows_warned": len(_lines(warnings)),
        "map_rejected": len(map_lines),
        "reject_rate": round(rate, 6),
        "rejects_by_reason": dict(sorted(by_reason.items())),
        "book": state.counts,
    }


def _map_lines(ctx: RunContext, spec: Any, read_rejects: Any) -> set[int]:
    """Source lines of an entity's own file the map stage quarantined."""
    rejects = read_rejects("map", spec.entity)
    return _lines(rejects.filter(pc.equal(rejects.column("source_file"), spec.source.file)))


def _suite_docs(ctx: RunContext, mapping: Any) -> dict[str, dict[str, Any]]:
    return {e: _with_as_of(load_suite_dict(ctx.suite_path(mapping, e)), ctx.as_of) for e in mapping.entities}


def check_partition(ctx: RunContext, read: Any, write: Any) -> dict[str, Any]:
    """Run every entity's suite on one partition (`ctx` is a partition's context, or the book of one partition).

    Writes `checked/<entity>.parquet` (canonical rows and `__failed`), `rejects/suite_<entity>.parquet` and
    `warnings/suite_<entity>.parquet`, and `validation.json` in the partition's folder (counts, the value-free
    GX result). Raises ValidationFailed when a table-level check fails.
    """
    mapping = ctx.load_mapping()
    extract = json.loads((ctx.run_dir / "extract.json").read_text(encoding="utf-8"))
    own_rows = extract.get("partitions", {}).get("rows", {})
    docs, out = _suite_docs(ctx, mapping), {}
    for entity, spec in mapping.entities.items():
        raw = read(ctx.stage_path("raw", entity))
        map_lines = _map_lines(ctx, spec, lambda stage, e: read(ctx.rejects_path(stage, e)))
        rows = own_rows[entity][ctx.partition or 0] if entity in own_rows else extract["entities"][entity]["rows"]
        checked = check_entity(spec, read(ctx.stage_path("mapped", entity)), docs[entity], rows - len(map_lines), raw)
        write(checked.table.append_column(FAILED_COLUMN, pa.array(checked.failed)), ctx.stage_path("checked", entity))
        write(concat_rejects(checked.rejects), ctx.rejects_path("suite", entity))
        write(concat_rejects(checked.warnings), ctx.rejects_path("suite_warnings", entity))
        out[entity] = {"summary": checked.summary, "result": checked.result.to_json_dict()}
        log.info("validate: %s suite done, %d rule(s) failed", entity, len(checked.summary["failed_rules"]))
    _write_json(out, ctx.doc_path(SUITES_FILE))
    return {"stage": "validate", "partition": ctx.partition,
            "rows": {e: {"failed_rules": len(d["summary"]["failed_rules"])} for e, d in out.items()}}


def _narrow_state(ctx: RunContext, mapping: Any, entity: str, columns: list[str], doc: dict[str, Any],
                  parts: list[dict[str, Any]]) -> CheckedEntity:
    """An entity's checked key columns over the whole book, with the suite's verdicts (and, across
    partitions, the duplicates no partition could see)."""
    spec = mapping.entities[entity]
    contexts = ctx.partition_contexts()
    n = len(contexts)
    read = ctx.read_many([(c.stage_path("checked", entity), [*columns, LINE_COLUMN, FAILED_COLUMN]) for c in contexts]
                         + [(c.rejects_path(stage, entity), None) for stage in ("suite", "suite_warnings")
                            for c in contexts])
    checked, rejects, warnings = read[:n], read[n:2 * n], read[2 * n:]
    table = with_partitions(checked)
    failed = np.asarray(table.column(FAILED_COLUMN).combine_chunks()).copy()
    summary = merge_summaries([d["summary"] for d in parts])
    if ctx.partitions > 1:
        rejects += add_duplicate_failures(spec, table, failed, doc, summary)
    return CheckedEntity(spec, table.drop_columns([FAILED_COLUMN]), failed, [concat_rejects(rejects)],
                         [concat_rejects(warnings)], summary)


def _source_rows(ctx: RunContext, mapping: Any, entity: str, columns: set[str]) -> pa.Table:
    """The raw columns the book rules map for every source row of an entity (whole book)."""
    fields = [f for f in mapping.entities[entity].fields if f.target in columns]
    raw_columns = sorted({c for f in fields for c in f.source_columns} | {LINE_COLUMN})
    return ctx.read_stage("raw", entity, raw_columns)


def _docs_pages(ctx: RunContext, entity: str, suite: Any, parts: list[dict[str, Any]], state: Any,
                summary: dict[str, Any]) -> list[EntityDocs]:
    """Data Docs for an entity: one page per partition's GX result (a one-partition book: the entity's)."""
    from great_expectations.core.expectation_validation_result import expectationSuiteValidationResultSchema

    if ctx.partitions == 1:
        return [EntityDocs(entity, suite, expectationSuiteValidationResultSchema.load(parts[0]["result"]), summary)]
    return [EntityDocs(f"{entity}.{part_name(p)}", suite, expectationSuiteValidationResultSchema.load(d["result"]),
                       partition_counts(state, p)) for p, d in enumerate(parts)]


def validate_book_stage(ctx: RunContext, read: Any, write: Any) -> dict[str, Any]:
    """The book-level step after every partition's suites: the book rules over the whole book (key columns only),
    then per partition its valid rows, and the book's quarantine, merges, warnings, summary and Data Docs.
    Raises ValidationFailed, after writing everything, when an entity's reject rate exceeds `max_reject_rate`
    (not on a dry run)."""
    mapping = ctx.load_mapping()
    extract = json.loads((ctx.run_dir / "extract.json").read_text(encoding="utf-8"))["entities"]
    rules = load_book_rules(ctx.suite_path(mapping, next(iter(mapping.entities))).parent)
    docs = _suite_docs(ctx, mapping)
    parts = [json.loads(c.doc_path(SUITES_FILE).read_text(encoding="utf-8")) for c in ctx.partition_contexts()]
    columns = narrow_columns(mapping, rules, docs)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="validate-book") as pool:
        narrowed = {e: pool.submit(_narrow_state, ctx, mapping, e, columns[e], docs[e], [p[e] for p in parts])
                    for e in mapping.entities}
        raw = {e: pool.submit(_source_rows, ctx, mapping, e, set(columns[e])) for e in mapping.entities}
        checked = {e: f.result() for e, f in narrowed.items()}
        source = {e: f.result() for e, f in raw.items()}
    map_lines = {e: _map_lines(ctx, spec, ctx.read_rejects) for e, spec in mapping.entities.items()}
    states = validate_book(checked, mapping, rules, source,
                           {e: pa.array(sorted(lines), pa.int64()) for e, lines in map_lines.items()})
    del source
    _write_decisions(ctx, mapping, rules, states, write)
    summaries, docs_pages = {}, []
    for entity, state in states.items():
        warnings = concat_rejects(state.checked.warnings)
        write(concat_rejects(state.checked.rejects + state.parts), ctx.rejects_path("validate", entity))
        write(state.merges if state.merges is not None else merge_schema().empty_table(), merges_path(ctx, entity))
        write(warnings, warnings_path(ctx, entity))
        summaries[entity] = entity_summary(state, extract.get(entity, {}).get("rows"), map_lines[entity], warnings)
        docs_pages += _docs_pages(ctx, entity, build_suite(docs[entity]), [p[entity] for p in parts], state,
                                  summaries[entity])
    return _verdict(ctx, mapping, summaries, write_data_docs(ctx.report_dir, ctx.transfer_id, ctx.run_id, docs_pages))


def decisions_path(ctx: RunContext, entity: str) -> Any:
    """Where the book's decisions on a partition's rows of an entity go (`validate/<entity>.parquet`)."""
    return ctx.doc_path(f"validate/{entity}.parquet")


def _write_decisions(ctx: RunContext, mapping: Any, rules: Any, states: dict[str, Any], write: Any) -> None:
    """Write the book's decisions on every partition's rows (validate.partitioned.decisions_table)."""
    merge = rules.merge_duplicates
    for p, part in enumerate(ctx.partition_contexts()):
        for entity, state in states.items():
            referencing = [f.target for f in mapping.entities[entity].fields if f.references]
            lineage = merge.lineage_column if merge is not None and merge.entity == entity else None
            write(decisions_table(state, p, referencing, lineage), decisions_path(part, entity))


def valid_partition(ctx: RunContext, entity: str, read: Any) -> Any:
    """A partition's valid rows of an entity: its checked rows with the book's decisions applied."""
    return apply_decisions(read(ctx.stage_path("checked", entity)), read(decisions_path(ctx, entity)))


def write_valid(ctx: RunContext, read: Any, write: Any) -> dict[str, Any]:
    """Write a partition's valid rows of every entity (`valid/`); returns them by entity."""
    out = {}
    for entity in ctx.load_mapping().entities:
        out[entity] = valid_partition(ctx, entity, read)
        write(out[entity], ctx.stage_path("valid", entity))
    return out


def _verdict(ctx: RunContext, mapping: Any, summaries: dict[str, Any], index: Any) -> dict[str, Any]:
    """Write validation.json, apply the reject-rate threshold, return the stage's counts."""
    limit = ctx.max_reject_rate
    breaches = sorted(e for e, s in summaries.items() if s["reject_rate"] > limit)
    doc = {"max_reject_rate": limit, "over_threshold": breaches, "dry_run": ctx.dry_run,
           "partitions": ctx.partitions, "entities": summaries}
    _write_json(doc, ctx.run_dir / SUMMARY_FILE)
    _write_json(doc, ctx.report_dir / SUMMARY_FILE)
    for entity in breaches:
        log.warning("validate: %s reject rate %.4f exceeds max_reject_rate %.4f", entity,
                    summaries[entity]["reject_rate"], limit)
    if breaches and not ctx.dry_run:
        detail = ", ".join(f"{e} {summaries[e]['reject_rate']:.2%} ({mapping.entities[e].source.file})"
                           for e in breaches)
        raise ValidationFailed(f"reject rate above max_reject_rate {limit:.2%}: {detail}; nothing is loaded. "
                               f"See {ctx.report_dir / SUMMARY_FILE} and {index}")
    return {"stage": "validate", "data_docs": str(index), "over_threshold": breaches,
            "rows": {e: {"valid": s["rows_valid"], "quarantined": s["rows_quarantined"], "merged": s["rows_merged"]}
                     for e, s in summaries.items()}}


def run_validate_stage(ctx: RunContext, read: Any, write: Any) -> dict[str, Any]:
    """The whole validate stage (every partition's suites, then the book-level step); returns counts only (safe
    for XCom). Raises ValidationFailed when a table-level check fails (nothing written) or, after writing
    everything, when an entity's reject rate exceeds `max_reject_rate` (not on a dry run)."""
    for part in ctx.partition_contexts():
        check_partition(part, read, write)
    try:
        result = validate_book_stage(ctx, read, write)
    except ValidationFailed:  # the threshold: everything is written, the valid rows too (the DAG: in protect)
        for part in ctx.partition_contexts():
            write_valid(part, read, write)
        raise
    for part in ctx.partition_contexts():
        write_valid(part, read, write)
    return result


def _write_json(doc: dict[str, Any], path: Path) -> None:
    from booktransfer.storage import write_text

    write_text(path, json.dumps(doc, ensure_ascii=False, indent=2, default=str) + "\n")
