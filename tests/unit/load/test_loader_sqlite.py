"""booktransfer.load.loader on a real SQLite file: idempotent, atomic per table, resumable, locked per transfer."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import datetime

import pyarrow as pa
import pytest
import sqlalchemy as sa

from booktransfer.errors import LoadError, TransferLocked
from booktransfer.load.loader import RunInfo, TableLoad, load_tables
from booktransfer.load.lock import transfer_lock
from booktransfer.load.target import engine_for
from tests.unit.load.builders import ROOT, Book

DDL = ROOT / "schemas" / "example_buyer" / "ddl.sql"


def run(run_id: str = "r-1", transfer_id: str = "t-1") -> RunInfo:
    return RunInfo(transfer_id, run_id, "example_seller", "1.0.0", "test")


def _book(policies: int = 3) -> dict[str, pa.Table]:
    b = Book()
    b.person("C1")
    for i in range(policies):
        b.policy(f"P{i:06d}", "C1")
    return b.tables()


def _loads(tables: dict[str, pa.Table]) -> list[TableLoad]:
    keys = {"customers": ("customer_no",), "policies": ("policy_no",)}
    return [TableLoad(name, tables[name], keys[name]) for name in ("customers", "policies")]


@pytest.fixture()
def engine(tmp_path):
    e = engine_for(f"sqlite:///{tmp_path / 'buyer.db'}")
    yield e
    e.dispose()


def _count(engine, table: str, transfer_id: str = "t-1") -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text(f"SELECT count(*) FROM {table} WHERE transfer_id = :t"),
                            {"t": transfer_id}).scalar_one()


def _runs(engine) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(
            "SELECT run_id, entity, action, rows_loaded, rows_written, rows_replaced FROM transfer_runs "
            "ORDER BY finished_at, entity"))]


def test_first_load_then_rerun_writes_nothing(engine):
    """The same run again finds every table unchanged: zero rows written, the same rows held."""
    tables = _book()
    state, first = load_tables(engine, run(), _loads(tables), DDL)
    assert state == "created"
    assert [(r.entity, r.action, r.rows_written) for r in first] == [("customers", "LOADED", 1),
                                                                     ("policies", "LOADED", 3)]
    _, again = load_tables(engine, run(), _loads(tables), DDL)
    assert [(r.action, r.rows_written) for r in again] == [("UNCHANGED", 0), ("UNCHANGED", 0)]
    assert (_count(engine, "customers"), _count(engine, "policies")) == (1, 3)
    assert [r.rows_digest for r in again] == [r.rows_digest for r in first]
    assert _runs(engine) == [("r-1", "customers", "LOADED", 1, 1, 0), ("r-1", "policies", "LOADED", 3, 3, 0)]


def test_a_new_run_replaces_what_the_transfer_loaded_and_nothing_else(engine):
    """Run 2 holds one policy fewer: the transfer's rows are replaced; another transfer's rows stay."""
    load_tables(engine, run("r-1", "other"), _loads(_book()), DDL)
    load_tables(engine, run("r-1"), _loads(_book()), DDL)
    _, second = load_tables(engine, run("r-2"), _loads(_book(policies=2)), DDL)
    assert [(r.entity, r.action, r.rows_written, r.rows_replaced) for r in second] == [
        ("customers", "UNCHANGED", 0, 0), ("policies", "REPLACED", 2, 3)]
    assert (_count(engine, "policies"), _count(engine, "policies", "other")) == (2, 3)


def test_a_failing_table_keeps_nothing_of_itself_and_the_rerun_resumes(engine):
    """A key repeated at the end of 40,000 policies fails their insert after two full batches: no policy of the
    run is kept, customers (already committed) stay, the error names the table but no value; once fixed, the
    re-run skips customers and loads policies."""
    good = _book(policies=40_000)
    policies = good["policies"]
    bad = good | {"policies": pa.concat_tables([policies, policies.slice(0, 1)])}
    with pytest.raises(LoadError, match=r"policies: the buyer's database refused the load \(IntegrityError") as e:
        load_tables(engine, run(), _loads(bad), DDL)
    assert "P000000" not in str(e.value) and "C1" not in str(e.value)
    assert (_count(engine, "customers"), _count(engine, "policies")) == (1, 0)
    _, resumed = load_tables(engine, run(), _loads(good), DDL)
    assert [(r.entity, r.action) for r in resumed] == [("customers", "UNCHANGED"), ("policies", "LOADED")]
    assert _count(engine, "policies") == 40_000


def test_rows_deleted_behind_the_loaders_back_are_loaded_again(engine):
    """Same digest but fewer rows held than recorded: the table is reloaded, not skipped."""
    tables = _book()
    load_tables(engine, run(), _loads(tables), DDL)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM policies WHERE policy_no = 'P000001'"))
    _, again = load_tables(engine, run("r-2"), _loads(tables), DDL)
    assert [(r.entity, r.action) for r in again] == [("customers", "UNCHANGED"), ("policies", "REPLACED")]
    assert _count(engine, "policies") == 3


def test_a_second_concurrent_load_of_the_transfer_is_refused(engine):
    """While one run holds the transfer's lock, another run's load is refused and writes nothing."""
    load_tables(engine, run(), _loads(_book()), DDL)
    with transfer_lock(engine, "t-1", "r-holding"):
        with pytest.raises(TransferLocked, match="being loaded right now by run r-holding"):
            load_tables(engine, run("r-2"), _loads(_book(policies=1)), DDL)
        assert _count(engine, "policies") == 3
    _, after = load_tables(engine, run("r-2"), _loads(_book(policies=1)), DDL)
    assert after[1].action == "REPLACED"


def test_other_transfers_are_not_blocked(engine):
    """The lock is per transfer id."""
    load_tables(engine, run(), _loads(_book()), DDL)
    with transfer_lock(engine, "t-1", "r-holding"):
        _, records = load_tables(engine, run("r-1", "t-2"), _loads(_book()), DDL)
    assert [r.action for r in records] == ["LOADED", "LOADED"]


def test_a_lock_left_by_a_dead_process_on_this_machine_is_taken_over(engine):
    """A crashed loader's lock row (its process is gone) does not block the transfer forever."""
    load_tables(engine, run(), _loads(_book()), DDL)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    holder = f"{socket.gethostname()}:{int(gone.stdout)}:deadbeef"
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO transfer_locks VALUES ('t-1', 'r-crashed', :h, :at)"),
                     {"h": holder, "at": datetime(2026, 1, 1)})
    _, records = load_tables(engine, run("r-2"), _loads(_book(policies=2)), DDL)
    assert records[1].action == "REPLACED"
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM transfer_locks")).scalar_one() == 0
    assert os.getpid() != int(gone.stdout)
