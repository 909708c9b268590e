"""Reading a buyer table back through libpq's COPY (reconcile.records.copy_out) on the real PostgreSQL server."""

from __future__ import annotations

import psycopg
import pyarrow as pa
import pytest
from psycopg import sql

from booktransfer.load.target import engine_for
from booktransfer.reconcile.records import copy_out, read_target_table


@pytest.fixture()
def table(pg_url):
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (transfer_id TEXT, k TEXT, note TEXT, n INTEGER, d DATE)")
        with conn.cursor() as cur, cur.copy("COPY t FROM STDIN") as copy:
            for i in range(20_000):
                copy.write_row(("a" if i % 2 else "b", f"K{i:06d}", None if i % 7 == 0 else f"行,\"{i}\"\n",
                                i, "2024-02-29" if i % 3 else None))
    return pg_url


def test_copy_out_returns_what_psycopg_copy_returns(table):
    query = sql.SQL("COPY (SELECT * FROM t WHERE transfer_id = %s ORDER BY k) TO STDOUT (FORMAT csv)")
    with psycopg.connect(table) as conn:
        expected = bytearray()
        with conn.cursor() as cur, cur.copy(query, ["a"]) as copy:
            for chunk in copy:
                expected += chunk
        conn.rollback()
        assert copy_out(conn, query, ["a"]) == bytes(expected)
        assert expected.count(b"\n") > 10_000  # values with line breaks are quoted, rows still all there


def test_copy_out_error_is_raised_and_the_connection_stays_usable(table):
    with psycopg.connect(table) as conn:
        with pytest.raises(psycopg.errors.UndefinedColumn):
            copy_out(conn, sql.SQL("COPY (SELECT nope FROM t) TO STDOUT (FORMAT csv)"), [])
        assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 20_000
        with pytest.raises(psycopg.ProgrammingError, match="outside a transaction"):
            copy_out(conn, sql.SQL("COPY (SELECT 1) TO STDOUT"), [])


def test_read_target_table_share_and_types(table):
    schema = pa.schema([("k", pa.string()), ("note", pa.string()), ("n", pa.int64()), ("d", pa.date32())])
    engine = engine_for(table)
    try:
        whole = read_target_table(engine, "t", "a", schema)
        share = read_target_table(engine, "t", "a", schema, ("k", ["K000001", "K000003", "K000004", "missing"]))
    finally:
        engine.dispose()
    assert whole.num_rows == 10_000 and whole.schema == schema
    rows = {r["k"]: r for r in whole.to_pylist()}
    assert rows["K000007"]["note"] is None and rows["K000001"]["note"] == '行,"1"\n'
    assert str(rows["K000001"]["d"]) == "2024-02-29" and rows["K000003"]["d"] is None
    assert sorted(share.column("k").to_pylist()) == ["K000001", "K000003"]  # K000004 belongs to transfer b
