"""booktransfer.mapping.apply.map_entity: buyer-shaped rows out, untranslatable rows to quarantine with lineage."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow as pa

from booktransfer.mapping.apply import map_entity
from booktransfer.quarantine import reject_schema
from tests.unit.mapping.builders import (
    CUSTOMER_COLUMNS,
    POLICY_COLUMNS,
    customer_row,
    example_set,
    policy_row,
    raw_table,
)


def _map_customers(rows):
    return map_entity(example_set(), "customers", raw_table(CUSTOMER_COLUMNS, rows))


def test_blank_and_whitespace_cells_become_null():
    """A blank cell (or one that trims to nothing) is absent (null), not an empty string."""
    result = _map_customers([customer_row(1, Mobile="", PostalAddress="   ")])

    row = result.table.to_pylist()[0]
    assert row["mobile"] is None
    assert row["address"] is None
    assert result.rejects.num_rows == 0


def test_unknown_code_row_is_rejected_with_lineage():
    """An unknown code removes the row and records rule MAP.<entity>.<target>, the source column and line."""
    result = _map_customers([customer_row(1), customer_row(2, Sex="7"), customer_row(3)])

    assert result.table.column("customer_no").to_pylist() == ["C000000001", "C000000003"]
    assert result.rejects.schema == reject_schema()
    assert result.rejects.to_pylist() == [{
        "entity": "customers", "source_file": "LDPERSON.csv", "source_line": 3, "stage": "map",
        "rule_id": "MAP.customers.gender", "column": "Sex", "reason": "UNKNOWN_CODE",
    }]


def test_row_with_two_failures_removed_once_rejected_twice():
    """A row failing two fields leaves the output once but has one reject record per failure."""
    result = _map_customers([customer_row(1, Sex="7", Birthday="20230230"), customer_row(2)])

    assert result.table.num_rows == 1
    rejects = sorted((r["source_line"], r["rule_id"], r["reason"]) for r in result.rejects.to_pylist())
    assert rejects == [(2, "MAP.customers.birth_date", "UNPARSEABLE_DATE"),
                       (2, "MAP.customers.gender", "UNKNOWN_CODE")]


def test_good_rows_are_typed():
    """Dates come out as date32 and money as decimal128(18, 2), with exact values and the source line."""
    raw = raw_table(POLICY_COLUMNS, [policy_row(1, "C000000001", Prem="1234.50", CValiDate="20240229")],
                    first_line=7)

    result = map_entity(example_set(), "policies", raw)

    table = result.table
    assert table.schema.field("issue_date").type == pa.date32()
    assert table.schema.field("annual_premium").type == pa.decimal128(18, 2)
    row = table.to_pylist()[0]
    assert row["issue_date"] == dt.date(2024, 2, 29)
    assert row["annual_premium"] == Decimal("1234.50")
    assert row["product_code"] == "WL-01"
    assert row["_line"] == 7


def test_normalizers_applied_before_typing():
    """Full-width digits and a lowercase check character are normalised, then kept as text."""
    clean = customer_row(1)
    wide_id = clean["IDNo"][:-1].translate({ord(d): ord(d) + 0xFEE0 for d in "0123456789"}) + "x"

    result = _map_customers([customer_row(1, IDNo=wide_id, Birthday="１９８０0101")])

    row = result.table.to_pylist()[0]
    assert row["id_number"] == clean["IDNo"][:-1] + "X"
    assert row["birth_date"] == dt.date(1980, 1, 1)


def test_output_columns_are_targets_plus_line():
    """The mapped table has exactly the mapping's target columns, in order, then `_line`."""
    result = _map_customers([customer_row(1)])

    expected = [f.target for f in example_set().entities["customers"].fields] + ["_line"]
    assert result.table.column_names == expected


def test_bad_amount_rejected_as_unparseable_number():
    """A premium with a thousands separator is quarantined as UNPARSEABLE_NUMBER on the Prem column."""
    raw = raw_table(POLICY_COLUMNS, [policy_row(1, "C000000001", Prem="1,200.00")])

    result = map_entity(example_set(), "policies", raw)

    assert result.table.num_rows == 0
    assert [(r["column"], r["reason"]) for r in result.rejects.to_pylist()] == [("Prem", "UNPARSEABLE_NUMBER")]


def test_each_bad_date_keeps_its_own_reason():
    """An impossible date and an Excel serial in the same column each get their own reason code."""
    result = _map_customers([customer_row(1, Birthday="20230230"), customer_row(2, Birthday="32874")])

    reasons = {r["source_line"]: r["reason"] for r in result.rejects.to_pylist()}
    assert reasons == {2: "UNPARSEABLE_DATE", 3: "EXCEL_SERIAL_DATE"}
