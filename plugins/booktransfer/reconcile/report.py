"""Reconcile: prove per entity that every source line was loaded once or quarantined once, from the target itself.

The report holds counts, rule ids, reason codes and source file:line only, never a field value.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from booktransfer import __version__
from booktransfer.errors import ReconciliationFailed
from booktransfer.load.stage import read_plan_summary, suppressed_lines
from booktransfer.operations.record import run_record
from booktransfer.quarantine import REJECT_COLUMNS
from booktransfer.reconcile.sections import add_sections, finish

if TYPE_CHECKING:
    from booktransfer.pipeline import RunContext
    from booktransfer.reconcile.target_queries import TargetQueries


def _rejects(ctx: RunContext, entity: str) -> pa.Table:
    return pa.concat_tables([ctx.read_rejects(stage, entity) for stage in ("map", "validate")])


def _loaded_lines(ctx: RunContext, entity: str, queries: TargetQueries | None) -> Any:
    """Source lines of this entity's rows, read back from the target (or, on a dry run, without `queries`, the
    staged rows)."""
    if ctx.dry_run:
        held_back = set(suppressed_lines(ctx, entity))
        lines = ctx.read_stage("protected", entity, columns=["_line"]).column(0).to_pylist()
        return [line for line in lines if line not in held_back]
    from booktransfer.reconcile.records import target_lines

    return target_lines(ctx, ctx.load_mapping().entities[entity], queries).to_numpy()


def entity_balance(source_rows: int, loaded: list[int], rejects: pa.Table,
                   suppressed: list[int] | None = None, merged: list[int] | None = None) -> dict[str, Any]:
    """The conservation equation for one entity, at the level of source lines.

    source rows = loaded + quarantined (+ suppressed by data-subject requests) (+ merged: duplicate persons
    merged into a survivor row, R17), where each source line is counted once: a line loaded twice, or in two
    of the sets, breaks the equation even when the totals happen to agree. Suppressed persons appear here as
    a count only. Quarantined lines held back only because another row was quarantined (cascade reasons) are
    also counted apart, in `quarantined_cascade`.
    """
    import numpy as np

    from booktransfer.validate.book import CASCADE_REASONS

    def ints(values: Any) -> np.ndarray:
        return np.asarray(values if values is not None else [], dtype=np.int64)

    # Source lines are small numbers: each set is a mask over 0..limit (a pass over the lines, no sort). Loaded
    # lines beyond every line the seller's files can hold (a row altered in the target) are counted apart.
    quarantined_all = ints(rejects.column("source_line").to_numpy(zero_copy_only=False))
    cascade = pc.is_in(rejects.column("reason"), value_set=pa.array(sorted(CASCADE_REASONS), pa.string()))
    own_all = ints(rejects.filter(pc.invert(cascade)).column("source_line").to_numpy(zero_copy_only=False))
    suppressed_all, merged_all, loaded_all = ints(suppressed), ints(merged), ints(loaded)
    seller = [quarantined_all, own_all, suppressed_all, merged_all]
    limit = max([2 * source_rows + 16] + [int(a.max()) for a in seller if len(a)])
    if any(len(a) and int(a.min()) < 0 for a in seller):
        raise ValueError("a quarantine, request or merge record names a negative source line")

    def mask(values: np.ndarray) -> np.ndarray:
        out = np.zeros(limit + 1, dtype=bool)
        out[values] = True
        return out

    inside = (loaded_all >= 0) & (loaded_all <= limit)
    strange = np.unique(loaded_all[~inside])  # normally none
    loaded_set, quarantined, held_back, merged_set = (mask(a) for a in (loaded_all[inside], quarantined_all,
                                                                           suppressed_all, merged_all))
    own_defect = mask(own_all)
    loaded_count = int(np.count_nonzero(loaded_set)) + len(strange)
    duplicates = len(loaded_all) - loaded_count
    overlap = int(np.count_nonzero(loaded_set & quarantined))
    suppressed_overlap = int(np.count_nonzero(held_back & (loaded_set | quarantined)))
    merged_overlap = int(np.count_nonzero(merged_set & (loaded_set | quarantined | held_back)))
    everything = int(np.count_nonzero(loaded_set | quarantined | held_back | merged_set)) + len(strange)
    n_quarantined, n_held, n_merged = (int(np.count_nonzero(m)) for m in (quarantined, held_back, merged_set))
    holds = duplicates == 0 and overlap == 0 and suppressed_overlap == 0 and merged_overlap == 0 \
        and everything == source_rows and len(loaded_all) + n_quarantined + n_held + n_merged == source_rows
    equation = f"{source_rows} = {len(loaded_all)} + {n_quarantined}" + (
        f" + {n_held}" if n_held or n_merged else "") + (f" + {n_merged}" if n_merged else "")
    return {
        "source_rows": source_rows,
        "loaded": len(loaded_all),
        "quarantined": n_quarantined,
        "suppressed": n_held,
        "merged": n_merged,
        "equation": equation,
        "holds": holds,
        "quarantined_cascade": int(np.count_nonzero(quarantined & ~own_defect)),
        "loaded_twice": duplicates,
        "loaded_and_quarantined": overlap,
        "suppressed_and_loaded_or_quarantined": suppressed_overlap,
        "merged_and_kept": merged_overlap,
        "rejects_by_reason": dict(sorted(Counter(rejects.column("reason").to_pylist()).items())),
    }


def _merges(ctx: RunContext, entity: str) -> pa.Table | None:
    """The validate stage's merge records of one entity (merged source line -> survivor line), if any."""
    from booktransfer.validate.stage import merges_path

    path = merges_path(ctx, entity)
    return ctx.read_staged(path) if path.exists() else None


def _write_merges_csv(path: Path, parts: list[pa.Table]) -> None:
    """Each merged source line and the survivor line it was merged into (R17); lines only, never values."""
    columns = ("entity", "source_file", "source_line", "survivor_line", "rule_id", "reason")
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        for part in parts:
            for row in part.sort_by([("source_line", "ascending")]).to_pylist():
                writer.writerow([row[c] for c in columns])


def joined_balance(extracted: dict[str, Any], mapped: dict[str, Any]) -> dict[str, Any]:
    """A joined file's equation: its rows = rows matched to a main row + rows quarantined from it."""
    rows, matched, quarantined = extracted["rows"], mapped.get("matched", 0), mapped.get("quarantined", 0)
    return {"source_file": extracted["source_file"], "source_sha256": extracted["sha256"], "rows": rows,
            "matched": matched, "quarantined": quarantined,
            "equation": f"{rows} = {matched} + {quarantined}",
            "holds": mapped.get("rows") == rows and matched + quarantined == rows}


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _write_quarantine_csv(path: Path, parts: list[pa.Table]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(REJECT_COLUMNS)
        for part in parts:
            for row in part.sort_by([("source_line", "ascending")]).to_pylist():
                writer.writerow([row[c] for c in REJECT_COLUMNS])


def reconcile(ctx: RunContext) -> dict[str, Any]:
    """Write `reconciliation.json`, `quarantine.csv` and `merges.csv`; raise if any entity's equation fails.

    The target's counts and totals are asked first, in the background (`TargetQueries`), and read where needed."""
    if ctx.dry_run:
        return _reconcile(ctx, None)
    from booktransfer.reconcile.sections import totals_spec
    from booktransfer.reconcile.target_queries import TargetQueries

    with TargetQueries(ctx, totals_spec(ctx, ctx.load_mapping().spec.buyer_schema)) as queries:
        return _reconcile(ctx, queries)


def _reconcile(ctx: RunContext, queries: TargetQueries | None) -> dict[str, Any]:
    extract = json.loads((ctx.run_dir / "extract.json").read_text(encoding="utf-8"))
    protect_path = ctx.run_dir / "protect.json"
    entities, parts, merge_parts = {}, [], []
    map_doc = ctx.run_dir / "map.json"
    joins = json.loads(map_doc.read_text(encoding="utf-8")) if map_doc.exists() else {}
    for entity, info in extract["entities"].items():
        rejects = _rejects(ctx, entity)
        parts.append(rejects)
        own = rejects.filter(pc.equal(rejects.column("source_file"), info["source_file"]))
        merges = _merges(ctx, entity)
        merge_parts += [merges] if merges is not None else []
        entities[entity] = {"source_file": info["source_file"], "source_sha256": info["sha256"],
                            **entity_balance(info["rows"], _loaded_lines(ctx, entity, queries), own,
                                             suppressed_lines(ctx, entity),
                                             merges.column("source_line").to_pylist() if merges is not None else [])}
        if info.get("joined_files"):
            entities[entity]["joined_files"] = {
                alias: joined_balance(meta, joins.get(entity, {}).get(alias, {}))
                for alias, meta in info["joined_files"].items()}
            if not all(j["holds"] for j in entities[entity]["joined_files"].values()):
                entities[entity]["holds"] = False
    failed = sorted(e for e, b in entities.items() if not b["holds"])
    schema = ctx.load_mapping().spec.buyer_schema
    report = {
        "transfer_id": ctx.transfer_id,
        "run_id": ctx.run_id,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "code_version": __version__,
        "mapping_set": extract["mapping_set"],
        "mapping_version": extract["mapping_version"],
        "target": _redact(ctx.target_url),
        "dry_run": ctx.dry_run,
        "key_ids": json.loads(protect_path.read_text())["key_ids"] if protect_path.exists() else {},
        # Chinese identifiers found in fields kept in clear: column, kind and source lines, never values.
        "identifier_findings": (json.loads(protect_path.read_text()).get("identifier_findings", [])
                                if protect_path.exists() else []),
        "verdict": "FAIL" if failed else "PASS",
        "failed_entities": failed,
        "entities": entities,
    }
    plan = read_plan_summary(ctx)
    if plan is not None:  # consent carried over, data-subject requests (counts; held persons by line and token)
        report["load_plan"] = plan["summary"]
    report.update(run_record(ctx))  # the settings the run used, the compliance gate's and the approval's decisions
    failed += add_sections(ctx, report, schema, queries)
    report.update(verdict="FAIL" if failed else "PASS", failed_entities=failed)
    ctx.report_dir.mkdir(parents=True, exist_ok=True)
    (ctx.report_dir / "reconciliation.json").write_text(
        json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    _write_quarantine_csv(ctx.report_dir / "quarantine.csv", parts)
    _write_merges_csv(ctx.report_dir / "merges.csv", merge_parts)
    finish(ctx, report, schema, extract)
    if failed:
        raise ReconciliationFailed(
            f"reconciliation fails for {', '.join(failed)}; see {ctx.report_dir / 'reconciliation.json'}")
    return report
