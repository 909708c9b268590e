"""One load per transfer at a time: a second concurrent run of the same transfer is refused, not queued.

PostgreSQL: a session advisory lock keyed by the transfer id, on a connection held for the whole load; it
ends with that session, so a crashed worker never leaves a stale lock. Other targets: a row in
`transfer_locks` (primary key = transfer id) naming the holder; a holder on this machine whose process is
gone is stale and taken over, one elsewhere has to be cleared by hand (the error says how).
"""

from __future__ import annotations

import hashlib
import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa

from booktransfer.errors import TransferLocked
from booktransfer.load.target import is_postgres

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

LOCKS = "transfer_locks"


def advisory_key(transfer_id: str) -> int:
    """A signed 64-bit advisory lock key for a transfer id (SHA-256 based, stable across servers)."""
    return int.from_bytes(hashlib.sha256(b"booktransfer-load\x1f" + transfer_id.encode()).digest()[:8], "big",
                          signed=True)


def _pg_holder(conn: Connection, key: int) -> str:
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    row = conn.execute(sa.text(
        "SELECT a.application_name, a.pid, a.backend_start FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
        "AND l.classid::bigint = :hi AND l.objid::bigint = :lo"), {"hi": unsigned >> 32, "lo": unsigned & 0xFFFFFFFF}
    ).first()
    if row is None:
        return "another session"
    return f"session {row.pid} ({row.application_name or 'no application name'}), connected since {row.backend_start}"


@contextmanager
def _advisory_lock(engine: Engine, transfer_id: str) -> Iterator[None]:
    key = advisory_key(transfer_id)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if not conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar_one():
            raise TransferLocked(f"transfer {transfer_id} is being loaded right now by {_pg_holder(conn, key)}; "
                                 "a second concurrent load of the same transfer is refused — let it finish, then "
                                 "re-run if needed")
        try:
            yield
        finally:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})


def _holder_alive(holder: str) -> bool:
    host, _, rest = holder.partition(":")
    pid = rest.split(":", 1)[0]
    if host != socket.gethostname() or not pid.isdigit():
        return True  # cannot tell from here: assume it is alive
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _take_row(engine: Engine, transfer_id: str, run_id: str, holder: str) -> None:
    locks = sa.table(LOCKS, sa.column("transfer_id"), sa.column("run_id"), sa.column("holder"),
                     sa.column("acquired_at"))
    with engine.begin() as conn:
        row = conn.execute(sa.select(locks.c.run_id, locks.c.holder, locks.c.acquired_at)
                           .where(locks.c.transfer_id == transfer_id)).first()
        if row is not None:
            if _holder_alive(row.holder):
                raise TransferLocked(
                    f"transfer {transfer_id} is being loaded right now by run {row.run_id} ({row.holder}, since "
                    f"{row.acquired_at}); a second concurrent load of the same transfer is refused. If that run is "
                    f"gone, delete its row from {LOCKS} and re-run")
            conn.execute(sa.delete(locks).where(locks.c.transfer_id == transfer_id, locks.c.holder == row.holder))
        conn.execute(sa.insert(locks).values(transfer_id=transfer_id, run_id=run_id, holder=holder,
                                             acquired_at=datetime.now(UTC).replace(tzinfo=None)))


@contextmanager
def _row_lock(engine: Engine, transfer_id: str, run_id: str) -> Iterator[None]:
    holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    try:
        _take_row(engine, transfer_id, run_id, holder)
    except sa.exc.IntegrityError:
        raise TransferLocked(f"transfer {transfer_id} is being loaded right now by another run; a second "
                             "concurrent load of the same transfer is refused") from None
    try:
        yield
    finally:
        locks = sa.table(LOCKS, sa.column("transfer_id"), sa.column("holder"))
        with engine.begin() as conn:
            conn.execute(sa.delete(locks).where(locks.c.transfer_id == transfer_id, locks.c.holder == holder))


@contextmanager
def transfer_lock(engine: Engine, transfer_id: str, run_id: str) -> Iterator[None]:
    """Hold the transfer's load lock for the block; raise TransferLocked when another run holds it."""
    lock = _advisory_lock(engine, transfer_id) if is_postgres(engine) else _row_lock(engine, transfer_id, run_id)
    with lock:
        yield
