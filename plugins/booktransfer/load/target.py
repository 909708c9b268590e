"""The buyer's database: engines, dialects and the buyer DDL.

Engines hide statement parameters from error messages (`hide_parameters`), so a refused row never puts its
values in a log.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

_CREATE = re.compile(r"^CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?\"?([A-Za-z_][A-Za-z0-9_]*)\"?", re.IGNORECASE)
BOOKKEEPING = ("transfer_runs", "transfer_locks")
"""The loader's own tables: created when missing, even in a buyer schema that exists already."""


def engine_for(url: str, application_name: str | None = None) -> Engine:
    """An engine for a database URL; plain `postgresql://` URLs use psycopg 3.

    `application_name` shows in PostgreSQL's `pg_stat_activity` (who is loading which transfer).
    """
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    connect_args = {}
    if application_name and url.startswith("postgresql"):
        connect_args["application_name"] = application_name[:63]
    return sa.create_engine(url, hide_parameters=True, connect_args=connect_args)


def is_postgres(engine: Engine) -> bool:
    """True when the target is PostgreSQL (COPY fast path, advisory locks)."""
    return engine.dialect.name == "postgresql"


def ddl_statements(ddl_path: Path) -> list[str]:
    """The buyer DDL split into statements (comments removed)."""
    text = "\n".join(line.split("--", 1)[0] for line in ddl_path.read_text(encoding="utf-8").splitlines())
    return [s.strip() for s in text.split(";") if s.strip()]


def ddl_tables(ddl_path: Path) -> dict[str, str]:
    """Each table the DDL creates, with its CREATE TABLE statement."""
    out = {}
    for stmt in ddl_statements(ddl_path):
        match = _CREATE.match(stmt)
        if match:
            out[match.group(1)] = stmt
    return out


def count_loaded(engine: Engine, entity: str, transfer_id: str) -> int:
    """Rows of one table the target holds for this transfer (read back, not remembered)."""
    target = sa.table(entity, sa.column("transfer_id"))  # no reflection: the column is in every buyer table
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(target)
                            .where(target.c.transfer_id == transfer_id)).scalar_one()
