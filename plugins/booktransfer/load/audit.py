"""The `transfer_runs` audit table in the target: per run and table, what was loaded, when, and its digest.

Each row is written in the same transaction as the table's data, so the latest row of a transfer and table
always describes what the target holds for it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

RUNS = "transfer_runs"
COLUMNS = ("transfer_id", "run_id", "entity", "mapping_set", "mapping_version", "code_version", "action",
           "rows_loaded", "rows_written", "rows_replaced", "rows_digest", "started_at", "finished_at")


@dataclass(frozen=True)
class RunRecord:
    """One table's line in `transfer_runs`."""

    transfer_id: str
    run_id: str
    entity: str
    mapping_set: str
    mapping_version: str
    code_version: str
    action: str
    rows_loaded: int
    rows_written: int
    rows_replaced: int
    rows_digest: str
    started_at: datetime
    finished_at: datetime

    def as_dict(self) -> dict[str, Any]:
        """The record as a plain dict (timestamps as ISO strings), for stage results and reports."""
        doc = asdict(self)
        doc["started_at"] = self.started_at.isoformat(timespec="seconds")
        doc["finished_at"] = self.finished_at.isoformat(timespec="seconds")
        return doc


def _runs() -> sa.TableClause:
    return sa.table(RUNS, *(sa.column(c) for c in COLUMNS))


def latest(conn: Connection, transfer_id: str, entity: str) -> Any:
    """The newest record of a transfer and table (None if it never loaded)."""
    runs = _runs()
    return conn.execute(sa.select(runs).where(runs.c.transfer_id == transfer_id, runs.c.entity == entity)
                        .order_by(runs.c.finished_at.desc()).limit(1)).first()


def record(conn: Connection, rec: RunRecord) -> None:
    """Write a run's record for a table; an UNCHANGED retry keeps the record of the run's earlier write."""
    runs = _runs()
    where = (runs.c.transfer_id == rec.transfer_id, runs.c.run_id == rec.run_id, runs.c.entity == rec.entity)
    if rec.action == "UNCHANGED" and conn.execute(sa.select(sa.func.count()).select_from(runs).where(*where)
                                                  ).scalar_one():
        return
    conn.execute(sa.delete(runs).where(*where))
    conn.execute(sa.insert(runs).values(**asdict(rec)))
