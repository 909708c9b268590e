"""Load: the buyer's database through SQLAlchemy (SQLite by default, PostgreSQL in production).

Each entity loads in one transaction that first removes what this transfer loaded before, so a re-run
adds nothing twice and a failure leaves the target as it was.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import sqlalchemy as sa

from booktransfer.errors import LoadError
from booktransfer.extract.reader import LINE_COLUMN

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

_BATCH = 20_000


def engine_for(url: str) -> Engine:
    """An engine for a database URL; plain `postgresql://` URLs use psycopg 3."""
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return sa.create_engine(url, future=True)


def ddl_statements(ddl_path: Path) -> list[str]:
    """The buyer DDL split into statements (comments removed)."""
    text = "\n".join(line.split("--", 1)[0] for line in ddl_path.read_text(encoding="utf-8").splitlines())
    return [s.strip() for s in text.split(";") if s.strip()]


def prepare_target(engine: Engine, ddl_path: Path, tables: dict[str, list[str]]) -> None:
    """Create the example schema where tables are missing, then check every column we will write exists."""
    with engine.begin() as conn:
        for stmt in ddl_statements(ddl_path):
            conn.execute(sa.text(stmt))
    inspector = sa.inspect(engine)
    for table, columns in tables.items():
        present = {c["name"] for c in inspector.get_columns(table)}
        missing = [c for c in columns if c not in present]
        if missing:
            raise LoadError(f"target table {table}: column(s) {', '.join(missing)} do not exist; "
                            "fix the buyer schema or the mapping")


def target_columns(table: pa.Table) -> list[str]:
    """The buyer columns a staged, protected table fills."""
    return ["transfer_id", *[c for c in table.column_names if c != LINE_COLUMN], "source_line"]


def load_entity(engine: Engine, entity: str, table: pa.Table, transfer_id: str) -> int:
    """Replace this transfer's rows of one entity in a single transaction; returns the rows written."""
    rows = table.rename_columns([("source_line" if c == LINE_COLUMN else c) for c in table.column_names])
    target = sa.Table(entity, sa.MetaData(), autoload_with=engine)
    with engine.begin() as conn:
        conn.execute(sa.delete(target).where(target.c.transfer_id == transfer_id))
        for batch in rows.to_batches(_BATCH):
            records = batch.to_pylist()
            for r in records:
                r["transfer_id"] = transfer_id
            conn.execute(sa.insert(target), records)
    return rows.num_rows


def count_loaded(engine: Engine, entity: str, transfer_id: str) -> int:
    """Rows of one entity the target holds for this transfer (read back, not remembered)."""
    target = sa.Table(entity, sa.MetaData(), autoload_with=engine)
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(target)
                            .where(target.c.transfer_id == transfer_id)).scalar_one()


def record_run(engine: Engine, transfer_id: str, run_id: str, mapping_set: str, version: str,
               counts: dict[str, int]) -> None:
    """Write this run's counts to the target's `transfer_runs` audit table (replacing a previous try)."""
    runs = sa.Table("transfer_runs", sa.MetaData(), autoload_with=engine)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    with engine.begin() as conn:
        conn.execute(sa.delete(runs).where(runs.c.transfer_id == transfer_id, runs.c.run_id == run_id))
        conn.execute(sa.insert(runs), [
            {"transfer_id": transfer_id, "run_id": run_id, "mapping_set": mapping_set,
             "mapping_version": version, "entity": e, "rows_loaded": n, "loaded_at": now}
            for e, n in counts.items()
        ])
