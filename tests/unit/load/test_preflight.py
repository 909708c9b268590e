"""booktransfer.load.preflight: every table and column checked before any write, problems named by table.column."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pyarrow as pa
import pytest
import sqlalchemy as sa

from booktransfer.errors import SchemaMismatch
from booktransfer.load.preflight import preflight, type_problem
from booktransfer.load.target import engine_for
from tests.unit.load.builders import ROOT, Book

DDL = ROOT / "schemas" / "example_buyer" / "ddl.sql"


def _tables() -> dict[str, pa.Table]:
    b = Book()
    b.person("C1")
    b.policy("P1", "C1")
    b.party("P1", "C1")
    return {k: v for k, v in b.tables().items() if k != "consents"}


@pytest.fixture()
def engine(tmp_path):
    e = engine_for(f"sqlite:///{tmp_path / 'buyer.db'}")
    yield e
    e.dispose()


def _names(engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def test_empty_target_gets_the_buyer_schema(engine):
    """On an empty target every table of the DDL is created, and the staged tables fit it."""
    assert preflight(engine, DDL, _tables()) == "created"
    assert {"customers", "policies", "policy_parties", "consents", "consent_status", "notification_manifest",
            "processing_restrictions"} <= _names(engine)


def test_dry_run_creates_nothing_but_checks_the_ddl(engine):
    """A dry run against an empty target writes nothing and still checks the rows against the DDL."""
    assert preflight(engine, DDL, _tables(), dry_run=True).startswith("empty")
    assert _names(engine) == set()
    bad = _tables() | {"customers": _tables()["customers"].append_column("favourite_colour", pa.array(["red"]))}
    with pytest.raises(SchemaMismatch, match=r"customers\.favourite_colour: column does not exist"):
        preflight(None, DDL, bad, dry_run=True)


def test_a_partial_buyer_schema_is_never_patched(engine):
    """A target holding some buyer tables but not all: the missing one is named and nothing is created."""
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE customers (transfer_id TEXT, customer_no TEXT)"))
    with pytest.raises(SchemaMismatch, match="policies: table does not exist") as caught:
        preflight(engine, DDL, _tables())
    assert "nothing was written" in str(caught.value)
    assert _names(engine) == {"customers"}


def test_every_problem_is_listed_by_table_and_column_without_values(engine):
    """Missing column, a type the values do not fit, a NOT NULL column left empty, too-long text: all named."""
    with engine.begin() as conn:
        for stmt in [
            "CREATE TABLE customers (transfer_id TEXT NOT NULL, customer_no TEXT, customer_type TEXT, id_type TEXT, "
            "id_number VARCHAR(8), name TEXT, gender TEXT, birth_date INTEGER, mobile TEXT, address TEXT, "
            "source_line INTEGER, risk_score REAL NOT NULL)",
            "CREATE TABLE policies (transfer_id TEXT, policy_no TEXT, holder_customer_no TEXT, product_code TEXT, "
            "status TEXT, issue_date DATE, expiry_date DATE, annual_premium REAL, sum_insured NUMERIC(18, 2), "
            "source_line INTEGER)",
            "CREATE TABLE policy_parties (transfer_id TEXT, policy_no TEXT, customer_no TEXT, role TEXT, "
            "relation_to_holder TEXT, beneficiary_order INTEGER, benefit_share_pct NUMERIC(5, 2), "
            "source_line INTEGER)",
        ]:
            conn.execute(sa.text(stmt))
    with pytest.raises(SchemaMismatch) as caught:
        preflight(engine, DDL, _tables())
    message = str(caught.value)
    assert "customers.postcode: column does not exist in the target" in message
    assert "customers.birth_date: dates do not fit INTEGER" in message
    assert "customers.id_number: values up to 6 characters do not fit" not in message
    assert "customers.risk_score: NOT NULL without a default, and the load does not fill it" in message
    assert "policies.annual_premium: exact decimals do not fit REAL" in message
    assert "C1" not in message and "tok-C1" not in message
    assert _names(engine) == {"customers", "policies", "policy_parties"}


def test_nulls_for_a_not_null_column_are_counted_with_their_source_lines(engine):
    """A NOT NULL target column and staged rows without a value: named, with the rows' source lines."""
    preflight(engine, DDL, _tables())
    b = Book()
    b.person("C1")
    b.person("C2")
    b.customers[1]["name"] = None
    with pytest.raises(SchemaMismatch, match=r"customers\.name: NOT NULL, but 1 row\(s\) have no value; "
                                             r"first source lines 3"):
        preflight(engine, DDL, {"customers": b.tables()["customers"]})


@pytest.mark.parametrize(("values", "sql_type", "problem"), [
    (pa.chunked_array([pa.array(["abcdefghij"])]), sa.VARCHAR(8), "values up to 10 characters do not fit"),
    (pa.chunked_array([pa.array(["abcdefgh"])]), sa.VARCHAR(8), None),
    (pa.chunked_array([pa.array([Decimal("150.00")], pa.decimal128(18, 2))]), sa.NUMERIC(5, 2), None),
    (pa.chunked_array([pa.array([Decimal("1500.00")], pa.decimal128(18, 2))]), sa.NUMERIC(5, 2),
     "4 integer digits do not fit"),
    (pa.chunked_array([pa.array([Decimal("1.25")], pa.decimal128(18, 2))]), sa.NUMERIC(9, 1), "would round"),
    (pa.chunked_array([pa.array([3_000_000_000])]), sa.INTEGER(), "exceed the range"),
    (pa.chunked_array([pa.array([3_000_000_000])]), sa.BIGINT(), None),
    (pa.chunked_array([pa.array([date(2020, 1, 1)])]), sa.TIMESTAMP(), None),
    (pa.chunked_array([pa.array([True])]), sa.TEXT(), "true/false values do not fit"),
    (pa.chunked_array([pa.array([None], pa.null())]), sa.DATE(), None),
])
def test_type_fit(values, sql_type, problem):
    """Values decide where the declared types cannot (lengths, integer digits, integer range)."""
    found = type_problem(values, sql_type, "postgresql")
    assert (found is None) if problem is None else (problem in found)
