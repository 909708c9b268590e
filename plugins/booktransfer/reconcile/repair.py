"""Repair: reload only the rows a reconciliation found wrong, then reconcile again — both passes recorded.

The keys file lists `entity,source_line` (the report's `differences.csv` works as is). For each entity, in
one transaction under the transfer's lock: delete this transfer's target rows at those source lines and
with the keys the staged rows at those lines carry, then write the staged rows back. `transfer_runs` gets a
REPAIRED record per entity; the second pass writes a complete, signed report to
`reports/<transfer_id>/<run_id>/repair-<n>/` with `repair.json` (what was asked and done, counts only).
"""

from __future__ import annotations

import csv
import dataclasses
import json
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from booktransfer import __version__
from booktransfer.errors import BookTransferError, ReconciliationFailed
from booktransfer.extract.reader import LINE_COLUMN

if TYPE_CHECKING:
    from booktransfer.pipeline import RunContext


class RepairError(BookTransferError):
    """The keys file cannot drive a repair (unknown entity, malformed line)."""


def read_keys(path: Path, entities: list[str]) -> dict[str, list[int]]:
    """Source lines to reload per entity, from a CSV with `entity` and `source_line` columns."""
    wanted: dict[str, set[int]] = defaultdict(set)
    with path.open(encoding="utf-8", newline="") as fh:
        for n, row in enumerate(csv.DictReader(fh), start=2):
            entity, line = (row.get("entity") or "").strip(), (row.get("source_line") or "").strip()
            if entity not in entities or not line.isdigit():
                raise RepairError(f"{path.name}:{n}: expected a known entity and a source line")
            wanted[entity].add(int(line))
    return {e: sorted(lines) for e, lines in wanted.items()}


def _delete(conn: sa.Connection, entity: str, transfer_id: str, key: tuple[str, ...], lines: list[int],
            rows: pa.Table) -> int:
    table = sa.Table(entity, sa.MetaData(), autoload_with=conn)
    mine = table.c.transfer_id == transfer_id
    deleted = conn.execute(sa.delete(table).where(mine, table.c.source_line.in_(lines))).rowcount
    for values in rows.select(list(key)).to_pylist():
        deleted += conn.execute(sa.delete(table).where(mine, *[table.c[k] == v for k, v in values.items()])).rowcount
    return deleted


def reload_entity(ctx: RunContext, engine: Any, entity: str, key: tuple[str, ...], lines: list[int]) -> dict[str, int]:
    """Replace this transfer's target rows at `lines` (and their keys) with the staged rows; one transaction."""
    from booktransfer.load import audit
    from booktransfer.load.encode import outgoing, rows_digest
    from booktransfer.load.stage import without_suppressed
    from booktransfer.load.writers import writer_for

    staged = without_suppressed(ctx, entity, ctx.read_stage("protected", entity))
    chosen = staged.filter(pc.is_in(staged.column(LINE_COLUMN), value_set=pa.array(lines, pa.int64())))
    rows = outgoing(chosen, ctx.transfer_id, key)
    mapping = ctx.load_mapping()
    started = datetime.now(UTC).replace(tzinfo=None)
    with engine.begin() as conn:
        deleted = _delete(conn, entity, ctx.transfer_id, key, lines, rows)
        written = writer_for(engine).write(conn, entity, rows) if rows.num_rows else 0
        audit.record(conn, audit.RunRecord(
            ctx.transfer_id, ctx.run_id, entity, mapping.spec.name, mapping.version, __version__, "REPAIRED",
            staged.num_rows, written, deleted, rows_digest(outgoing(staged, ctx.transfer_id, key)), started,
            datetime.now(UTC).replace(tzinfo=None)))
    return {"lines_requested": len(lines), "rows_deleted": deleted, "rows_written": written}


def next_repair_name(ctx: RunContext) -> str:
    """`repair-<n>` for the next repair of this run."""
    n = 1
    while (ctx.report_dir / f"repair-{n}").exists():
        n += 1
    return f"repair-{n}"


def repair(ctx: RunContext, keys_file: Path) -> dict[str, Any]:
    """Reload the listed rows and run a second reconciliation pass into its own signed report folder."""
    from booktransfer.load.lock import transfer_lock
    from booktransfer.load.target import engine_for
    from booktransfer.reconcile.report import reconcile

    mapping = ctx.load_mapping()
    wanted = read_keys(keys_file, list(mapping.entities))
    engine = engine_for(ctx.target_url)
    try:
        with transfer_lock(engine, ctx.transfer_id, f"{ctx.run_id}-repair"):
            done = {e: reload_entity(ctx, engine, e, mapping.entities[e].key, lines) for e, lines in wanted.items()}
    finally:
        engine.dispose()
    second = dataclasses.replace(ctx, reports_root=ctx.report_dir / next_repair_name(ctx), flat_report=True)
    second.report_dir.mkdir(parents=True)
    record = {"transfer_id": ctx.transfer_id, "run_id": ctx.run_id, "keys_file": keys_file.name,
              "repaired_at": datetime.now(UTC).isoformat(timespec="seconds"), "entities": done}
    (second.report_dir / "repair.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    try:
        report = reconcile(second)
    except ReconciliationFailed:
        report = json.loads((second.report_dir / "reconciliation.json").read_text(encoding="utf-8"))
    return {"report_dir": str(second.report_dir), "verdict": report["verdict"], "entities": done}
