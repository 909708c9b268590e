"""The loader against the real PostgreSQL server: COPY keeps every value, a rerun writes nothing, a killed
connection keeps nothing of its table, and a second concurrent load of one transfer is refused."""

from __future__ import annotations

import threading
import time
from datetime import date, datetime
from decimal import Decimal

import psycopg
import pyarrow as pa
import pytest
import sqlalchemy as sa

from booktransfer.errors import LoadError, TargetUnavailable, TransferLocked
from booktransfer.load.encode import outgoing
from booktransfer.load.loader import RunInfo, TableLoad, load_tables
from booktransfer.load.lock import transfer_lock
from booktransfer.load.target import engine_for
from booktransfer.load.verify import target_digest
from tests.integration.conftest import PG_URL
from tests.unit.load.builders import POLICIES, ROOT, Book

pytestmark = pytest.mark.integration
DDL = ROOT / "schemas" / "example_buyer" / "ddl.sql"
KEYS = {"customers": ("customer_no",), "policies": ("policy_no",), "policy_parties": ("policy_no", "customer_no",
                                                                                       "role"),
        "consents": ("event_no",)}


def run(run_id: str = "r-1", transfer_id: str = "t-1") -> RunInfo:
    return RunInfo(transfer_id, run_id, "example_seller", "1.0.0", "test")


def awkward_book() -> dict[str, pa.Table]:
    """Values COPY could get wrong: quotes, commas, line breaks, rare characters, empty vs null, big decimals."""
    b = Book()
    b.person("C1")
    b.person("C2", None, mobile="", address=None)
    b.customers[1]["name"] = 'say "hi", then\nleave \\. 张䶮 𪚥 阿依古丽·买买提'
    b.person("C3", date(2012, 2, 29), kind="corporate")
    b.policy("P1", "C1")
    b.policies[0]["annual_premium"] = Decimal("9999999999999999.99")
    b.policy("P2", "C3", status="MATURED", expiry=None)
    b.party("P1", "C2", "BENEFICIARY")
    b.consent("C1", "MARKETING", "GRANTED", datetime(2020, 1, 2, 3, 4, 5))
    b.consent("C2", "CROSS_BORDER", "WITHDRAWN", datetime(2021, 12, 31, 23, 59, 59), channel="")
    return b.tables()


def many_policies(n: int) -> pa.Table:
    """`n` policies of one holder, built column-wise (fast enough for a few hundred thousand)."""
    return pa.table({
        "policy_no": pa.array([f"P{i:011d}" for i in range(n)]),
        "holder_customer_no": pa.array(["C1"] * n),
        "product_code": pa.array(["LA0101"] * n),
        "status": pa.array(["IN_FORCE"] * n),
        "issue_date": pa.array([date(2015, 1, 1)] * n, pa.date32()),
        "expiry_date": pa.array([date(2035, 1, 1)] * n, pa.date32()),
        "annual_premium": pa.array([Decimal("1234.50")] * n, pa.decimal128(18, 2)),
        "sum_insured": pa.array([Decimal("100000.00")] * n, pa.decimal128(18, 2)),
        "row_fingerprint": pa.array([f"{i:064x}" for i in range(n)]),
        "_line": pa.array(range(2, n + 2), pa.int64()),
    }, schema=POLICIES)


def loads(tables: dict[str, pa.Table]) -> list[TableLoad]:
    return [TableLoad(name, rows, KEYS[name]) for name, rows in tables.items()]


@pytest.fixture()
def engine(pg_url):
    e = engine_for(pg_url, application_name="booktransfer load test")
    yield e
    e.dispose()


def count(engine, table: str, transfer_id: str = "t-1") -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text(f"SELECT count(*) FROM {table} WHERE transfer_id = :t"),
                            {"t": transfer_id}).scalar_one()


def test_copy_keeps_every_value_and_a_rerun_writes_nothing(engine):
    """Read back, the target's rows have the digest the loader recorded; the same run again writes zero rows."""
    tables = awkward_book()
    state, first = load_tables(engine, run(), loads(tables), DDL)
    assert state == "created"
    for rec in first:
        schema = outgoing(tables[rec.entity], "t-1", KEYS[rec.entity]).schema
        assert target_digest(engine, rec.entity, "t-1", schema, KEYS[rec.entity]) == rec.rows_digest, rec.entity
    with engine.connect() as conn:
        name, mobile, address = conn.execute(sa.text(
            "SELECT name, mobile, address FROM customers WHERE customer_no = 'C2'")).one()
    assert (name, mobile, address) == ('say "hi", then\nleave \\. 张䶮 𪚥 阿依古丽·买买提', "", None)
    before = {t: count(engine, t) for t in tables}
    _, again = load_tables(engine, run(), loads(tables), DDL)
    assert {r.entity: (r.action, r.rows_written) for r in again} == {t: ("UNCHANGED", 0) for t in tables}
    assert {t: count(engine, t) for t in tables} == before


def _kill_when_copy_is_under_way(stop: threading.Event, killed: list[int]) -> None:
    """Terminate the backend that is COPYing policies once it has taken rows (pg_stat_progress_copy)."""
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        while not stop.is_set():
            row = admin.execute(
                "SELECT p.pid FROM pg_stat_progress_copy p JOIN pg_stat_activity a ON a.pid = p.pid "
                "WHERE a.application_name = 'booktransfer load test' AND p.relid::regclass::text LIKE '%policies' "
                "AND p.tuples_processed > 0").fetchone()
            if row:
                admin.execute("SELECT pg_terminate_backend(%s)", (row[0],))
                killed.append(row[0])
                return
            time.sleep(0.005)


def test_killing_the_loading_connection_mid_copy_keeps_nothing_of_that_table(engine):
    """pg_terminate_backend on the COPYing session: no policy of the run is in the target, the customers loaded
    before it are, the lock is released, and a re-run finishes the load."""
    tables = {"customers": awkward_book()["customers"], "policies": many_policies(300_000)}
    stop, killed = threading.Event(), []
    watcher = threading.Thread(target=_kill_when_copy_is_under_way, args=(stop, killed))
    watcher.start()
    try:
        with pytest.raises(TargetUnavailable, match="policies: the connection to the buyer's database was lost"):
            load_tables(engine, run(), loads(tables), DDL)
    finally:
        stop.set()
        watcher.join()
    assert killed, "the watcher must have terminated the COPY"
    assert (count(engine, "customers"), count(engine, "policies")) == (3, 0)
    with engine.connect() as conn:
        recorded = dict(conn.execute(sa.text("SELECT entity, action FROM transfer_runs")).all())
    assert recorded == {"customers": "LOADED"}
    _, resumed = load_tables(engine, run(), loads(tables), DDL)
    assert [(r.entity, r.action) for r in resumed] == [("customers", "UNCHANGED"), ("policies", "LOADED")]
    assert count(engine, "policies") == 300_000


def test_a_second_concurrent_load_of_the_transfer_is_refused(engine, pg_url):
    """Another session holding the transfer's lock: the load is refused naming that session; nothing written."""
    holder = engine_for(pg_url, application_name="booktransfer load t-1 run-A")
    try:
        with transfer_lock(holder, "t-1", "run-A"):
            with pytest.raises(TransferLocked, match=r"transfer t-1 is being loaded right now by session \d+ "
                                                     r"\(booktransfer load t-1 run-A\)"):
                load_tables(engine, run("run-B"), loads(awkward_book()), DDL)
            with transfer_lock(engine, "t-2", "run-C"):
                pass  # another transfer is not blocked
    finally:
        holder.dispose()
    assert not sa.inspect(engine).has_table("customers")
    _, records = load_tables(engine, run("run-B"), loads(awkward_book()), DDL)
    assert {r.action for r in records} == {"LOADED"}


def test_two_loads_started_together_one_is_refused(pg_url):
    """Two runs of one transfer released at the same moment: exactly one loads, the other is refused."""
    tables = {"customers": awkward_book()["customers"], "policies": many_policies(150_000)}
    barrier, outcomes = threading.Barrier(2), {}

    def attempt(run_id: str) -> None:
        e = engine_for(pg_url, application_name=f"booktransfer load t-1 {run_id}")
        try:
            barrier.wait()
            load_tables(e, run(run_id), loads(tables), DDL)
            outcomes[run_id] = "loaded"
        except TransferLocked:
            outcomes[run_id] = "refused"
        finally:
            e.dispose()

    threads = [threading.Thread(target=attempt, args=(r,)) for r in ("run-A", "run-B")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes.values()) == ["loaded", "refused"]
    e = engine_for(pg_url)
    try:
        assert count(e, "policies") == 150_000
    finally:
        e.dispose()


def test_a_refused_row_is_named_by_source_line_never_by_value(engine):
    """A target constraint preflight cannot see (a CHECK) refuses one row in the COPY: the error names the
    constraint and the row's source line, and holds none of its values."""
    load_tables(engine, run("r-0", "other"), loads({"customers": awkward_book()["customers"]}), DDL)  # the schema
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE policies ADD CONSTRAINT no_matured CHECK (status <> 'MATURED')"))
    tables = awkward_book()
    with pytest.raises(LoadError, match=r"policies: .*SQLSTATE 23514 \(CheckViolation\), constraint no_matured, "
                                        r"source line 3") as caught:
        load_tables(engine, run(), loads(tables), DDL)
    assert "MATURED" not in str(caught.value).replace("no_matured", "") and "P2" not in str(caught.value)
    assert count(engine, "policies") == 0 and count(engine, "customers") == 3


def test_a_schema_mismatch_stops_the_load_before_any_write(engine):
    """An existing buyer schema whose customers.birth_date is text and whose policies lack a column: both named,
    nothing written to any table."""
    from booktransfer.errors import SchemaMismatch

    load_tables(engine, run("r-0", "other"), loads({"customers": awkward_book()["customers"]}), DDL)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM customers"))
        conn.execute(sa.text("ALTER TABLE customers ALTER COLUMN birth_date TYPE TEXT"))
        conn.execute(sa.text("ALTER TABLE policies DROP COLUMN sum_insured"))
    with pytest.raises(SchemaMismatch) as caught:
        load_tables(engine, run(), loads(awkward_book()), DDL)
    message = str(caught.value)
    assert "customers.birth_date: dates do not fit TEXT" in message
    assert "policies.sum_insured: column does not exist in the target" in message
    assert {t: count(engine, t) for t in KEYS} == {t: 0 for t in KEYS}


def test_a_sibling_passing_from_its_claim_to_its_share_is_waited_for_not_refused(monkeypatch):
    """A sibling partition that has claimed the transfer lets go of the exclusive lock before it takes its shared
    one: a partition looking at the holders in that moment sees nobody. It tries again (and gets in), instead of
    refusing the load as if another run held the lock (seen in a 4-partition benchmark)."""
    from booktransfer.load import lock

    engine = engine_for(PG_URL)
    key, tag = lock.advisory_key("t-race"), lock.run_tag("t-race", "r-1")
    real, looks = lock._holder_names, []

    def first_look_in_the_gap(conn, k):
        looks.append(k)
        if len(looks) == 1:  # the sibling lets go of its claim's exclusive lock just as we look
            sibling.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            return []
        return real(conn, k)

    monkeypatch.setattr(lock, "_holder_names", first_look_in_the_gap)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as sibling, \
            engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        sibling.execute(sa.text("SELECT set_config('application_name', :n, false)"), {"n": f"booktransfer load {tag}"})
        assert sibling.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar_one()
        lock._pg_acquire(conn, key, tag, "t-race", shared=True)  # refused before the fix
        assert looks == [key]
        assert conn.execute(sa.text("SELECT pg_advisory_unlock_shared(:k)"), {"k": key}).scalar_one()
    engine.dispose()
