"""Read a loaded table back and take the digest of what the target holds, in the loader's canonical form.

Equal to the `rows_digest` the loader recorded when the target holds exactly the rows it sent: every value,
null and empty string, date and decimal as written. A tool for the reconciliation and for tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pyarrow as pa
import sqlalchemy as sa

from booktransfer.load.encode import rows_digest

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


def read_back(engine: Engine, name: str, transfer_id: str, schema: pa.Schema, key: Sequence[str]) -> pa.Table:
    """The transfer's rows of a table, in `schema`'s columns and types, sorted by `key`."""
    table = sa.Table(name, sa.MetaData(), autoload_with=engine)
    columns = [table.c[f.name] for f in schema]
    query = sa.select(*columns).where(table.c.transfer_id == transfer_id).order_by(*(table.c[k] for k in key))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return pa.table([pa.array([r[i] for r in rows], f.type) for i, f in enumerate(schema)], schema=schema)


def target_digest(engine: Engine, name: str, transfer_id: str, schema: pa.Schema, key: Sequence[str]) -> str:
    """The digest of what the target holds for the transfer, comparable with `transfer_runs.rows_digest`."""
    return rows_digest(read_back(engine, name, transfer_id, schema, key))
