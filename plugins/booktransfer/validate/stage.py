"""The validate stage of a run: every entity's suite, then the book-level rules, then the files and the verdict.

Reads `mapped/`, `raw/` and the map stage's rejects; writes, per entity, `valid/<entity>.parquet` (the rows
that go on), `rejects/validate_<entity>.parquet` (quarantine: rule id, column, reason, source file:line),
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

import pyarrow as pa
import pyarrow.compute as pc

from booktransfer.errors import ValidationFailed
from booktransfer.quarantine import concat_rejects
from booktransfer.validate.book import CASCADE_REASONS, EntityState, merge_schema, valid_rows, validate_book
from booktransfer.validate.book_rules import load_book_rules
from booktransfer.validate.data_docs import EntityDocs, write_data_docs
from booktransfer.validate.entity import CheckedEntity, check_entity
from booktransfer.validate.gx_suite import build_suite, load_suite_dict

if TYPE_CHECKING:
    from booktransfer.pipeline import RunContext

log = logging.getLogger(__name__)
SUMMARY_FILE = "validation.json"


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


def _check_all(ctx: RunContext, mapping: Any, read: Any) -> tuple[dict[str, CheckedEntity], dict, dict, dict]:
    extract = json.loads((ctx.run_dir / "extract.json").read_text(encoding="utf-8"))["entities"]
    checked, raw, map_lines, docs = {}, {}, {}, {}
    for entity, spec in mapping.entities.items():
        raw[entity] = read(ctx.stage_path("raw", entity))
        map_rejects = read(ctx.rejects_path("map", entity))
        own = map_rejects.filter(pc.equal(map_rejects.column("source_file"), spec.source.file))
        map_lines[entity] = _lines(own)
        rows = extract.get(entity, {}).get("rows")
        expected = rows - len(map_lines[entity]) if rows is not None else None
        docs[entity] = _with_as_of(load_suite_dict(ctx.suite_path(mapping, entity)), ctx.as_of)
        checked[entity] = check_entity(spec, read(ctx.stage_path("mapped", entity)), docs[entity], expected,
                                       raw[entity])
        log.info("validate: %s suite done, %d rule(s) failed", entity, len(checked[entity].summary["failed_rules"]))
    return checked, raw, map_lines, {"docs": docs, "extract": extract}


def run_validate_stage(ctx: RunContext, read: Any, write: Any) -> dict[str, Any]:
    """The whole validate stage; returns counts only (safe for XCom). Raises ValidationFailed when a
    table-level check fails (nothing written) or, after writing everything, when an entity's reject rate
    exceeds `max_reject_rate` (not on a dry run)."""
    mapping = ctx.load_mapping()
    checked, raw, map_lines, meta = _check_all(ctx, mapping, read)
    rules = load_book_rules(ctx.suite_path(mapping, next(iter(mapping.entities))).parent)
    states = validate_book(checked, mapping, rules, raw,
                           {e: pa.array(sorted(lines), pa.int64()) for e, lines in map_lines.items()})
    summaries, docs_pages = {}, []
    for entity, state in states.items():
        warnings = concat_rejects(state.checked.warnings)
        write(valid_rows(state), ctx.stage_path("valid", entity))
        write(concat_rejects(state.checked.rejects + state.parts), ctx.rejects_path("validate", entity))
        write(state.merges if state.merges is not None else merge_schema().empty_table(), merges_path(ctx, entity))
        write(warnings, warnings_path(ctx, entity))
        rows = meta["extract"].get(entity, {}).get("rows")
        summaries[entity] = entity_summary(state, rows, map_lines[entity], warnings)
        docs_pages.append(EntityDocs(entity, build_suite(meta["docs"][entity]), state.checked.result,
                                     summaries[entity]))
    limit = ctx.max_reject_rate
    breaches = sorted(e for e, s in summaries.items() if s["reject_rate"] > limit)
    doc = {"max_reject_rate": limit, "over_threshold": breaches, "dry_run": ctx.dry_run, "entities": summaries}
    _write_json(doc, ctx.run_dir / SUMMARY_FILE)
    _write_json(doc, ctx.report_dir / SUMMARY_FILE)
    index = write_data_docs(ctx.report_dir, ctx.transfer_id, ctx.run_id, docs_pages)
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


def _write_json(doc: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)
