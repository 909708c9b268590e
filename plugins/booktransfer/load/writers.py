"""Writers: PostgreSQL through COPY (psycopg 3), every other SQLAlchemy target through batched INSERTs.

A writer only writes; the caller holds the transaction (one per table), so a failure keeps nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

import pyarrow as pa
import sqlalchemy as sa

from booktransfer.load.encode import SOURCE_LINE, csv_chunks
from booktransfer.load.target import is_postgres

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

INSERT_BATCH = 20_000
Progress = Callable[[str, int, int], None]


class Writer(Protocol):
    """Writes outgoing rows into a table inside the caller's transaction."""

    name: str

    def write(self, conn: Connection, table: str, rows: pa.Table, progress: Progress | None = None) -> int:
        """Write every row; returns how many."""


class CopyWriter:
    """PostgreSQL `COPY … FROM STDIN (FORMAT csv)` of the canonical CSV, streamed in chunks."""

    name = "postgresql-copy"

    def write(self, conn: Connection, table: str, rows: pa.Table, progress: Progress | None = None,
              chunks: Sequence[tuple[int, pa.Buffer]] | None = None) -> int:
        """Stream the rows through COPY on the transaction's own connection (`chunks`: already encoded)."""
        from psycopg import sql

        statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(
            sql.Identifier(table), sql.SQL(", ").join(sql.Identifier(c) for c in rows.column_names))
        driver = conn.connection.driver_connection
        sent = 0
        with driver.cursor() as cur, cur.copy(statement) as copy:
            for batch_rows, chunk in chunks if chunks is not None else csv_chunks(rows):
                copy.write(memoryview(chunk))
                sent += batch_rows
                if progress:
                    progress(table, sent, rows.num_rows)
        return rows.num_rows


class InsertWriter:
    """Batched `INSERT` through SQLAlchemy (executemany): SQLite and any other dialect."""

    name = "sqlalchemy-insert"

    def write(self, conn: Connection, table: str, rows: pa.Table, progress: Progress | None = None,
              chunks: Sequence[tuple[int, pa.Buffer]] | None = None) -> int:
        """Insert the rows in batches of a few ten thousand (`chunks` is not used)."""
        target = sa.Table(table, sa.MetaData(), autoload_with=conn)
        sent = 0
        for batch in rows.to_batches(max_chunksize=INSERT_BATCH):
            conn.execute(sa.insert(target), batch.to_pylist())
            sent += batch.num_rows
            if progress:
                progress(table, sent, rows.num_rows)
        return rows.num_rows


def writer_for(engine: Engine) -> Writer:
    """COPY for PostgreSQL, INSERT for everything else."""
    return CopyWriter() if is_postgres(engine) else InsertWriter()


def copy_line_to_source_line(rows: pa.Table) -> Callable[[int], int | None]:
    """Map a COPY error's line number (1-based, no header) to the seller's source line of that row."""

    def line(n: int) -> int | None:
        if SOURCE_LINE not in rows.column_names or not 1 <= n <= rows.num_rows:
            return None
        return rows.column(SOURCE_LINE)[n - 1].as_py()

    return line
