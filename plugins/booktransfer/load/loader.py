"""Load tables into the buyer's database: one lock per transfer, one transaction per table, idempotent.

For each table, in order: encode the outgoing rows canonically and take their digest; in one transaction,
skip the table when the target already holds exactly these rows for this transfer (same digest and row
count as its latest `transfer_runs` record), otherwise delete the transfer's rows of the table, write the new
ones (COPY on PostgreSQL) and record the run. A failure anywhere in a table rolls the whole table back; the
tables before it stay loaded, and a re-run skips them (resumable to the same end state).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import sqlalchemy as sa

from booktransfer.errors import BookTransferError
from booktransfer.load import audit
from booktransfer.load.dberrors import as_load_error
from booktransfer.load.encode import outgoing, rows_digest
from booktransfer.load.lock import transfer_lock
from booktransfer.load.preflight import ensure_bookkeeping, preflight
from booktransfer.load.target import is_postgres
from booktransfer.load.writers import Progress, Writer, copy_line_to_source_line, writer_for

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TableLoad:
    """One table to load: its staged rows (buyer columns, `_line` for lineage) and its key within a transfer."""

    name: str
    rows: pa.Table
    key: tuple[str, ...]


@dataclass(frozen=True)
class RunInfo:
    """Who is loading: the transfer, the run and the versions that produced the rows."""

    transfer_id: str
    run_id: str
    mapping_set: str
    mapping_version: str
    code_version: str


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _held(conn: sa.Connection, name: str, transfer_id: str) -> int:
    table = sa.table(name, sa.column("transfer_id"))
    return conn.execute(sa.select(sa.func.count()).select_from(table)
                        .where(table.c.transfer_id == transfer_id)).scalar_one()


def _write_table(conn: sa.Connection, writer: Writer, run: RunInfo, name: str, rows: pa.Table, digest: str,
                 progress: Progress | None) -> audit.RunRecord:
    started = _now()
    previous = audit.latest(conn, run.transfer_id, name)
    held = _held(conn, name, run.transfer_id)
    if previous is not None and previous.rows_digest == digest and held == rows.num_rows:
        action, written, replaced = "UNCHANGED", 0, 0
    else:
        table = sa.table(name, sa.column("transfer_id"))
        replaced = conn.execute(sa.delete(table).where(table.c.transfer_id == run.transfer_id)).rowcount
        written = writer.write(conn, name, rows, progress)
        action = "REPLACED" if replaced else "LOADED"
    rec = audit.RunRecord(run.transfer_id, run.run_id, name, run.mapping_set, run.mapping_version,
                          run.code_version, action, rows.num_rows, written, replaced, digest, started, _now())
    audit.record(conn, rec)
    return rec


def load_table(engine: Engine, writer: Writer, run: RunInfo, table: TableLoad,
               progress: Progress | None = None) -> audit.RunRecord:
    """Load one table in one transaction (see the module docstring); errors name the table, never a value."""
    t0 = time.perf_counter()
    rows = outgoing(table.rows, run.transfer_id, table.key)
    digest = rows_digest(rows)
    try:
        with engine.begin() as conn:
            rec = _write_table(conn, writer, run, table.name, rows, digest, progress)
    except BookTransferError:
        raise
    except Exception as e:  # a database or driver error: re-raised without the values it may quote
        if not _is_database_error(e):
            raise
        raise as_load_error(table.name, e, copy_line_to_source_line(rows)) from None
    log.info("load %s: %s, %d rows written, %d replaced, %d held, %.1f s, digest %s", table.name, rec.action,
             rec.rows_written, rec.rows_replaced, rec.rows_loaded, time.perf_counter() - t0, digest[:16])
    return rec


def _is_database_error(e: Exception) -> bool:
    import sqlite3

    import psycopg

    return isinstance(e, sa.exc.SQLAlchemyError | psycopg.Error | sqlite3.Error)


def load_tables(engine: Engine, run: RunInfo, tables: Sequence[TableLoad], ddl_path: Path,
                progress: Progress | None = None) -> tuple[str, list[audit.RunRecord]]:
    """Lock the transfer, check the target (creating the buyer schema on an empty one), load every table.

    Returns what preflight found ("existing" or "created") and each table's `transfer_runs` record.
    """
    try:
        if not is_postgres(engine):
            ensure_bookkeeping(engine, ddl_path)
        with transfer_lock(engine, run.transfer_id, run.run_id):
            if is_postgres(engine):
                ensure_bookkeeping(engine, ddl_path)
            state = preflight(engine, ddl_path, {t.name: t.rows for t in tables})
            writer = writer_for(engine)
            return state, [load_table(engine, writer, run, t, progress) for t in tables]
    except BookTransferError:
        raise
    except Exception as e:
        if not _is_database_error(e):
            raise
        raise as_load_error("(preparing the load)", e) from None
