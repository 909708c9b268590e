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
from collections.abc import Callable, Iterator
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


# ---------- partitioned loads: the partitions of one run load side by side, any other run is refused

LEASE = "*"
"""`transfer_runs.entity` of the record naming the run whose partitions load the transfer (action CLAIMED)."""
SIBLING_WAIT_SECONDS = 600.0
SIBLING_POLL_SECONDS = 0.1


def run_tag(transfer_id: str, run_id: str) -> str:
    """A short tag of a transfer's run, carried in the load sessions' application_name (siblings know each other)."""
    return "run:" + hashlib.sha256(f"{transfer_id}\x1f{run_id}".encode()).hexdigest()[:12]


def _lease_run(conn: Connection, transfer_id: str) -> str | None:
    """The run holding the transfer's partitioned-load lease; None when there is none, or when a load without
    partitions wrote the transfer after it (the lease is stale then)."""
    from booktransfer.load import audit

    if not sa.inspect(conn).has_table(audit.RUNS):
        return None
    lease = audit.latest(conn, transfer_id, LEASE)
    if lease is None:
        return None
    runs = sa.table(audit.RUNS, sa.column("transfer_id"), sa.column("entity"), sa.column("finished_at"))
    newer = conn.execute(sa.select(sa.func.count()).select_from(runs).where(
        runs.c.transfer_id == transfer_id, runs.c.finished_at > lease.finished_at,
        runs.c.entity.not_like("%#%"), runs.c.entity != LEASE)).scalar_one()
    return None if newer else lease.run_id


def _holder_names(conn: Connection, key: int) -> list[str]:
    """application_name of every session holding the transfer's advisory lock (exclusive or shared)."""
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    return [n or "" for n in conn.execute(sa.text(
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
        "AND l.classid::bigint = :hi AND l.objid::bigint = :lo"), {"hi": unsigned >> 32, "lo": unsigned & 0xFFFFFFFF}
    ).scalars().all()]


def _wait_for_siblings(conn: Connection, key: int, tag: str, transfer_id: str, deadline: float) -> None:
    """After a failed try: refuse when a session of another run holds the lock (or the wait is over), else wait a
    poll. Nobody holding it is the moment a sibling passes from the claim's exclusive lock to its shared one: the
    next try decides."""
    import time

    if any(tag not in name for name in _holder_names(conn, key)) or time.monotonic() > deadline:
        raise TransferLocked(f"transfer {transfer_id} is being loaded right now by {_pg_holder(conn, key)}; "
                             "a second concurrent load of the same transfer is refused — let it finish, then "
                             "re-run if needed")
    time.sleep(SIBLING_POLL_SECONDS)


def _pg_claim(conn: Connection, key: int, tag: str, transfer_id: str, run_id: str, claim: Callable[[], None]) -> None:
    """Make sure the transfer is claimed for this run: claim it under the exclusive lock, or — while sibling
    partitions hold the lock (one of them claiming, or already writing) — wait until the claim is recorded."""
    import time

    deadline = time.monotonic() + SIBLING_WAIT_SECONDS
    while _lease_run(conn, transfer_id) != run_id:
        if conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar_one():
            try:
                _claim_or_refuse(conn, transfer_id, run_id, claim)
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            return
        _wait_for_siblings(conn, key, tag, transfer_id, deadline)


def _pg_acquire(conn: Connection, key: int, tag: str, transfer_id: str, shared: bool) -> None:
    """Take the transfer's advisory lock (shared: for writing a partition; else exclusive: for claiming), waiting
    while only sibling partitions of the same run hold it; refuse when another run does."""
    import time

    fn = "pg_try_advisory_lock_shared" if shared else "pg_try_advisory_lock"
    deadline = time.monotonic() + SIBLING_WAIT_SECONDS
    while not conn.execute(sa.text(f"SELECT {fn}(:k)"), {"k": key}).scalar_one():
        _wait_for_siblings(conn, key, tag, transfer_id, deadline)


def _check_lease(conn: Connection, transfer_id: str, run_id: str) -> None:
    holder = _lease_run(conn, transfer_id)
    if holder != run_id:
        raise TransferLocked(f"transfer {transfer_id}: run {holder or '(a load without partitions)'} took over its "
                             "load after this run claimed it; this run loads nothing more — trigger a new run if "
                             "it should be the one loaded")


def _claim_or_refuse(conn: Connection, transfer_id: str, run_id: str, claim: Callable[[], None]) -> None:
    """Claim the transfer for this run, unless this run held it before and another took over (then refuse)."""
    from booktransfer.load import audit

    if _lease_run(conn, transfer_id) == run_id:
        return
    runs = sa.table(audit.RUNS, sa.column("transfer_id"), sa.column("run_id"), sa.column("entity"))
    held_before = sa.inspect(conn).has_table(audit.RUNS) and conn.execute(
        sa.select(sa.func.count()).select_from(runs).where(runs.c.transfer_id == transfer_id,
                                                           runs.c.run_id == run_id, runs.c.entity == LEASE)
    ).scalar_one()
    if held_before:
        _check_lease(conn, transfer_id, run_id)
    claim()


@contextmanager
def partition_lock(engine: Engine, transfer_id: str, run_id: str, claim: Callable[[], None]) -> Iterator[None]:
    """Hold the right to load one partition of this run: the first partition of a run to get here claims the
    transfer (`claim()`: e.g. clear what an earlier run loaded, record the lease) under the exclusive lock; then
    every partition writes under a shared one, side by side. Another run's load is refused (TransferLocked).

    PostgreSQL: the transfer's advisory lock, exclusive to claim and shared to write; sessions carry the run's
    tag (`run_tag`) in their application_name, so a partition waits for its siblings instead of refusing them.
    Other targets: the `transfer_locks` row, held by one partition at a time (their writes serialize anyway).
    """
    if not is_postgres(engine):
        with _sibling_row_lock(engine, transfer_id, run_id):
            with engine.connect() as conn:
                _claim_or_refuse(conn, transfer_id, run_id, claim)
            yield
        return
    key, tag = advisory_key(transfer_id), run_tag(transfer_id, run_id)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        _pg_claim(conn, key, tag, transfer_id, run_id, claim)
        _pg_acquire(conn, key, tag, transfer_id, shared=True)
        try:
            _check_lease(conn, transfer_id, run_id)
            yield
        finally:
            conn.execute(sa.text("SELECT pg_advisory_unlock_shared(:k)"), {"k": key})


@contextmanager
def _sibling_row_lock(engine: Engine, transfer_id: str, run_id: str) -> Iterator[None]:
    """The `transfer_locks` row lock, waiting while a sibling partition of the same run holds it."""
    import time

    holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    locks = sa.table(LOCKS, sa.column("transfer_id"), sa.column("run_id"), sa.column("holder"))
    deadline = time.monotonic() + SIBLING_WAIT_SECONDS
    while True:
        try:
            _take_row(engine, transfer_id, run_id, holder)
            break
        except (TransferLocked, sa.exc.IntegrityError):
            with engine.connect() as conn:
                held_by = conn.execute(sa.select(locks.c.run_id).where(locks.c.transfer_id == transfer_id)).scalar()
            if held_by not in (run_id, None) or time.monotonic() > deadline:
                raise TransferLocked(f"transfer {transfer_id} is being loaded right now by run {held_by}; a second "
                                     "concurrent load of the same transfer is refused") from None
            time.sleep(SIBLING_POLL_SECONDS)
    try:
        yield
    finally:
        with engine.begin() as conn:
            conn.execute(sa.delete(locks).where(locks.c.transfer_id == transfer_id, locks.c.holder == holder))
