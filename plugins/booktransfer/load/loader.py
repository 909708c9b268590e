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
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import sqlalchemy as sa

from booktransfer.errors import BookTransferError
from booktransfer.load import audit
from booktransfer.load.dberrors import as_load_error
from booktransfer.load.encode import csv_chunks, outgoing, rows_digest
from booktransfer.load.lock import transfer_lock
from booktransfer.load.preflight import ensure_bookkeeping, preflight
from booktransfer.load.target import is_postgres
from booktransfer.load.writers import CopyWriter, Progress, Writer, copy_line_to_source_line, writer_for

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TableLoad:
    """One table to load: its staged rows (buyer columns, `_line` for lineage) and its key within a transfer.

    `partition` (e.g. `part-002-of-004`) makes it one partition's share of the table: recorded in
    `transfer_runs` as `<table>#<partition>`, and a replace deletes only the transfer's rows with this share's
    values of the key's first column (a partition holds every row of each of those values).
    """

    name: str
    rows: pa.Table
    key: tuple[str, ...]
    partition: str | None = None

    @property
    def record_name(self) -> str:
        """The table's (or its share's) name in `transfer_runs`."""
        return f"{self.name}#{self.partition}" if self.partition else self.name


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


def _scope(conn: sa.Connection, load: TableLoad, rows: pa.Table, transfer_id: str) -> tuple[sa.TableClause, list]:
    """The table and the WHERE clauses of the rows a load replaces: the transfer's, or a partition's share."""
    table = sa.table(load.name, sa.column("transfer_id"), *(sa.column(k) for k in load.key[:1]))
    where = [table.c.transfer_id == transfer_id]
    if load.partition is None:
        return table, where
    values = sorted(set(rows.column(load.key[0]).drop_null().cast(pa.string()).to_pylist()))
    column = table.c[load.key[0]]
    if conn.dialect.name == "postgresql":  # one text split by the server, not a parameter list of every key
        from booktransfer.reconcile.records import joined_keys

        keys = sa.func.string_to_array(sa.bindparam("share", joined_keys(values), type_=sa.Text), "\x1f")
        return table, [*where, column == sa.any_(keys)]
    return table, [*where, column.in_(sa.bindparam("share", values, expanding=True))]


def _held(conn: sa.Connection, table: sa.TableClause, where: list) -> int:
    return conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one()


def _write_table(conn: sa.Connection, writer: Writer, run: RunInfo, load: TableLoad, rows: pa.Table, digest: str,
                 progress: Progress | None, chunks: list | None = None) -> audit.RunRecord:
    started = _now()
    name = load.name
    previous = audit.latest(conn, run.transfer_id, load.record_name)
    if load.partition is not None and (previous is None or previous.run_id != run.run_id):
        # A share this run has not written yet: its claim deleted every earlier row of the transfer, and a
        # sibling writes only its own share, so there is nothing to replace (and no key list to send).
        table, where, held = None, [], 0
    else:
        table, where = _scope(conn, load, rows, run.transfer_id)
        held = _held(conn, table, where)
    if previous is not None and previous.rows_digest == digest and held == rows.num_rows:
        action, written, replaced = "UNCHANGED", 0, 0
    else:
        replaced = conn.execute(sa.delete(table).where(*where)).rowcount if held else 0
        written = writer.write(conn, name, rows, progress, chunks) if chunks is not None else \
            writer.write(conn, name, rows, progress)
        action = "REPLACED" if replaced else "LOADED"
    rec = audit.RunRecord(run.transfer_id, run.run_id, load.record_name, run.mapping_set, run.mapping_version,
                          run.code_version, action, rows.num_rows, written, replaced, digest, started, _now())
    audit.record(conn, rec)
    return rec


def load_table(engine: Engine, writer: Writer, run: RunInfo, table: TableLoad,
               progress: Progress | None = None) -> audit.RunRecord:
    """Load one table in one transaction (see the module docstring); errors name the table, never a value."""
    t0 = time.perf_counter()
    rows = outgoing(table.rows, run.transfer_id, table.key)
    chunks = list(csv_chunks(rows)) if isinstance(writer, CopyWriter) else None  # encoded once: digest and COPY
    digest = rows_digest(rows, chunks)
    with database_errors(table.name, copy_line_to_source_line(rows)), engine.begin() as conn:
        rec = _write_table(conn, writer, run, table, rows, digest, progress, chunks)
    log.info("load %s: %s, %d rows written, %d replaced, %d held, %.1f s, digest %s", table.record_name, rec.action,
             rec.rows_written, rec.rows_replaced, rec.rows_loaded, time.perf_counter() - t0, digest[:16])
    return rec


@contextmanager
def database_errors(where: str, source_line: Callable[[int], int | None] | None = None) -> Iterator[None]:
    """Re-raise a database or driver error as a LoadError (or TargetUnavailable) naming `where`, without the
    values it may quote; anything else passes through."""
    try:
        yield
    except BookTransferError:
        raise
    except Exception as e:
        import sqlite3

        import psycopg

        if not isinstance(e, sa.exc.SQLAlchemyError | psycopg.Error | sqlite3.Error):
            raise
        raise as_load_error(where, e, source_line) from None


def load_tables(engine: Engine, run: RunInfo, tables: Sequence[TableLoad], ddl_path: Path,
                progress: Progress | None = None) -> tuple[str, list[audit.RunRecord]]:
    """Lock the transfer, check the target (creating the buyer schema on an empty one), load every table.

    Returns what preflight found ("existing" or "created") and each table's `transfer_runs` record.
    """
    with database_errors("(preparing the load)"):
        if not is_postgres(engine):
            ensure_bookkeeping(engine, ddl_path)
        with transfer_lock(engine, run.transfer_id, run.run_id):
            if is_postgres(engine):
                ensure_bookkeeping(engine, ddl_path)
            state = preflight(engine, ddl_path, {t.name: t.rows for t in tables})
            writer = writer_for(engine)
            return state, [load_table(engine, writer, run, t, progress) for t in tables]


def clear_transfer(engine: Engine, transfer_id: str, ddl_path: Path) -> int:
    """Delete every row the target holds for a transfer in the buyer's tables (one transaction per table)."""
    from booktransfer.load.target import BOOKKEEPING, ddl_tables

    existing = set(sa.inspect(engine).get_table_names())
    cleared = 0
    for name in ddl_tables(ddl_path):
        if name in BOOKKEEPING or name not in existing:
            continue
        table = sa.table(name, sa.column("transfer_id"))
        with engine.begin() as conn:
            cleared += conn.execute(sa.delete(table).where(table.c.transfer_id == transfer_id)).rowcount
    return cleared


def load_share(engine: Engine, run: RunInfo, tables: Sequence[TableLoad], ddl_path: Path, partitions: int,
               progress: Progress | None = None) -> tuple[str, list[audit.RunRecord]]:
    """Load one partition's share of every table, side by side with the run's other partitions.

    The first partition of a run to load claims the transfer (booktransfer.load.lock.partition_lock): it
    creates the buyer schema on an empty target, deletes what an earlier run loaded for the transfer and records
    the claim in `transfer_runs` (entity `*`, action CLAIMED). Each share is then checked against the target
    and written table by table, one transaction each, idempotent by its own digest (`<table>#<partition>`).
    """
    from booktransfer.load.lock import LEASE, partition_lock

    state = "existing"

    def claim() -> None:
        nonlocal state
        started = _now()
        ensure_bookkeeping(engine, ddl_path)
        state = preflight(engine, ddl_path, {t.name: t.rows for t in tables})
        cleared = clear_transfer(engine, run.transfer_id, ddl_path)
        with engine.begin() as conn:
            audit.record(conn, audit.RunRecord(run.transfer_id, run.run_id, LEASE, run.mapping_set,
                                               run.mapping_version, run.code_version, "CLAIMED", partitions, 0,
                                               cleared, "", started, _now()))
        log.info("load: run %s claimed transfer %s for a load in %d partitions (%d earlier rows deleted)",
                 run.run_id, run.transfer_id, partitions, cleared)

    with database_errors("(preparing the load)"):
        if not is_postgres(engine):  # the row lock needs its table (PostgreSQL's advisory lock does not)
            ensure_bookkeeping(engine, ddl_path)
        with partition_lock(engine, run.transfer_id, run.run_id, claim):
            if state == "existing":
                preflight(engine, ddl_path, {t.name: t.rows for t in tables})
            writer = writer_for(engine)
            return state, [load_table(engine, writer, run, t, progress) for t in tables]
