"""Report sections beyond the conservation equation: control totals, consent distribution, HTML, signed manifest."""

from __future__ import annotations

import getpass
import json
import logging
import os
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from booktransfer.errors import KeyringError
from booktransfer.load.stage import without_suppressed
from booktransfer.reconcile.html_report import render_html
from booktransfer.reconcile.manifest import write_manifest
from booktransfer.reconcile.totals import compare, load_spec, source_totals

if TYPE_CHECKING:
    import pyarrow as pa

    from booktransfer.pipeline import RunContext
    from booktransfer.reconcile.target_queries import TargetQueries

log = logging.getLogger(__name__)


def _read(ctx: RunContext, path: Path) -> Any:
    return ctx.read_staged(path)


def totals_spec(ctx: RunContext, schema: str) -> dict[str, dict[str, list]]:
    """The control totals the buyer schema declares (`schemas/<schema>/control_totals.yaml`)."""
    return load_spec(ctx.root / "schemas" / schema / "control_totals.yaml")


def control_totals(ctx: RunContext, schema: str,
                   queries: TargetQueries | None = None) -> dict[str, list[dict[str, Any]]]:
    """Per entity: every declared total, source (validated rows) against target (asked through `queries`; on a
    dry run, without them, the source against itself)."""
    out = {}
    for entity, declared in totals_spec(ctx, schema).items():
        needed = {c for group in declared.get("counts_by", []) for c in group} | set(declared.get("sums", []))
        valid = without_suppressed(ctx, entity, ctx.read_stage("valid", entity, sorted(needed | {"_line"})))
        source = source_totals(valid, declared)
        out[entity] = compare(source, source if queries is None else queries.totals(entity))
    return out


def consent_distribution(ctx: RunContext, queries: TargetQueries | None = None) -> list[dict[str, Any]]:
    """Consent events per purpose and state: as mapped from the seller (before) and as loaded (after)."""
    if not ctx.book.partition_contexts()[0].stage_path("mapped", "consents").exists():
        return []
    before = _counts(ctx.read_stage("mapped", "consents", ["purpose", "action"]))
    if queries is not None:
        after = queries.consents()
    else:  # a dry run: what would have loaded
        after = _counts(without_suppressed(ctx, "consents", ctx.read_stage("protected", "consents",
                                                                            ["purpose", "action", "_line"])))
    return [{"purpose": p, "state": s, "before": before.get((p, s), 0), "after": after.get((p, s), 0)}
            for p, s in sorted(before.keys() | after.keys(), key=lambda k: (str(k[0]), str(k[1])))]


def _counts(table: pa.Table) -> Counter:
    """Rows per (purpose, action), counted by Arrow."""
    grouped = table.group_by(["purpose", "action"], use_threads=False).aggregate([([], "count_all")])
    return Counter({(p, a): n for p, a, n in zip(grouped.column("purpose").to_pylist(),
                                                   grouped.column("action").to_pylist(),
                                                   grouped.column("count_all").to_pylist(), strict=True)})


def record_level(ctx: RunContext, queries: TargetQueries) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Per entity, every loaded row (decrypted) against the bytes its fingerprint was taken over before
    protection: over the whole book, or share by share over the partitions (their verify tasks' records when
    `ctx.verified`)."""
    from booktransfer.reconcile.records import book_records, reconcile_records

    if ctx.partitions > 1 or ctx.verified:  # (one partition, verified: the verify task checked the book)
        return book_records(ctx, queries, verify=not ctx.verified)
    summaries, differences = {}, []
    for entity, mapping in ctx.load_mapping().entities.items():
        summaries[entity], found = reconcile_records(ctx, mapping, queries.engine)
        differences += found
    return summaries, differences


def _write_differences(path: Path, differences: list[dict[str, Any]]) -> None:
    import csv

    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, ["entity", "source_file", "source_line", "reason", "columns"])
        writer.writeheader()
        writer.writerows(differences)


def add_sections(ctx: RunContext, report: dict[str, Any], schema: str,
                 queries: TargetQueries | None = None) -> list[str]:
    """Add record-level results, control totals and consent distribution; return the checks that failed.
    `queries`: the target-side aggregates, already asked (`TargetQueries`); None on a dry run (no target)."""
    failed = []
    ctx.report_dir.mkdir(parents=True, exist_ok=True)
    if not ctx.dry_run:
        summaries, differences = record_level(ctx, queries)
        report["record_level"] = [{"entity": e, **s} for e, s in summaries.items()]
        _write_differences(ctx.report_dir / "differences.csv", differences)
        failed += [f"record-level check of {e}" for e, s in summaries.items() if not s["ok"]]
    report["control_totals"] = control_totals(ctx, schema, queries)
    report["consent_distribution"] = consent_distribution(ctx, queries)
    _write_consent_csv(ctx.report_dir / "consent_summary.csv", report["consent_distribution"])
    return failed + [f"control totals of {e}" for e, rows in report["control_totals"].items()
                     if not all(r["agrees"] for r in rows)]


def _write_consent_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    import csv

    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, ["purpose", "state", "before", "after"])
        writer.writeheader()
        writer.writerows(rows)


def _suite_versions(ctx: RunContext, schema: str) -> dict[str, str]:
    folder = ctx.root / "expectations" / schema
    return {p.stem: json.loads(p.read_text(encoding="utf-8")).get("meta", {}).get("version", "")
            for p in sorted(folder.glob("*.json"))}


def _stage_times(ctx: RunContext) -> dict[str, str]:
    """When each stage finished (its summary file's time), for the record of the run."""
    from datetime import UTC, datetime

    files = {"extract": "extract.json", "map": "map.json", "validate": "validation.json", "protect": "protect.json"}
    return {stage: datetime.fromtimestamp((ctx.run_dir / name).stat().st_mtime, UTC).isoformat(timespec="seconds")
            for stage, name in files.items() if (ctx.run_dir / name).exists()}


def finish(ctx: RunContext, report: dict[str, Any], schema: str, extract: dict[str, Any]) -> None:
    """Write reconciliation.html, then sign a MANIFEST of every file in the report folder."""
    (ctx.report_dir / "reconciliation.html").write_text(render_html(report), encoding="utf-8")
    schema_file = Path(__file__).with_name("reconciliation.schema.json")
    (ctx.report_dir / schema_file.name).write_bytes(schema_file.read_bytes())
    metadata = {
        "transfer_id": ctx.transfer_id, "run_id": ctx.run_id, "verdict": report["verdict"],
        "mapping_set": report["mapping_set"], "mapping_version": report["mapping_version"],
        "buyer_schema": schema, "suite_versions": _suite_versions(ctx, schema),
        "code_version": report["code_version"], "key_ids": report.get("key_ids", {}),
        "input_files": {info["source_file"]: info["sha256"] for info in extract["entities"].values()}
        | {j["source_file"]: j["sha256"] for info in extract["entities"].values()
           for j in info.get("joined_files", {}).values()},
        "operator": os.environ.get("BOOKTRANSFER_OPERATOR") or getpass.getuser(),
        "generated_at": report["generated_at"],
        "timings": _stage_times(ctx),
        "settings": report.get("settings"), "gates": report.get("gates"),
    }
    from booktransfer.reconcile.signing import key_id, load_signing_key

    try:
        key = load_signing_key()
    except KeyringError as e:
        log.warning("report not signed: %s", e)
        (ctx.report_dir / "MANIFEST.unsigned").write_text(str(e) + "\n", encoding="utf-8")
        return
    write_manifest(ctx.report_dir, metadata, key, key_id(key.public_key()))
