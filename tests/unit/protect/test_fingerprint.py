"""booktransfer.protect.fingerprint: the canonical row serialization and audit-key fingerprints, both ways."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pyarrow as pa
import pytest

from booktransfer.errors import AuthenticationFailed
from booktransfer.extract.reader import LINE_COLUMN
from booktransfer.mapping.model import EntityMapping, FieldType
from booktransfer.protect.entity import protect_rows
from booktransfer.protect.fingerprint import (
    FINGERPRINT_COLUMN,
    canonical_column,
    canonical_row,
    canonical_rows,
    canonical_value,
    fingerprint_buyer_row,
    mismatched_lines,
)
from tests.unit.protect.fixed_keys import fixed_ring

AS_OF = date(2025, 12, 31)
# The serialization the module docstring specifies, written out by hand for the row below, and its
# HMAC-SHA256 under the fixed audit key (0x33 * 32) as `openssl dgst -sha256 -mac HMAC` computes it.
KAT_ROW = ('["booktransfer-row/1","t-1","things",2,[["k","a"],["v","张三"],["d","2020-01-02"],["amt","3650"],'
           '["id_no","932497ae26d6950d546726882c8bdf4c355042cb869b7e56e13786524efee109"],["note",null]]]')
KAT_FINGERPRINT = "39f401039176790e48e60c9fbd8c07d7c379731d85fd1da500409d3eb694ae06"

THINGS = EntityMapping.model_validate({
    "entity": "things", "source": {"file": "T.csv"}, "key": ["k"],
    "fields": [
        {"target": "k", "source": "K", "classification": "identifier", "protection": "keep"},
        {"target": "v", "source": "V", "classification": "personal", "protection": "encrypt"},
        {"target": "d", "source": "D", "type": "date", "format": "%Y%m%d", "classification": "public",
         "protection": "keep"},
        {"target": "amt", "source": "A", "type": "decimal", "classification": "financial", "protection": "keep"},
        {"target": "secret", "source": "S", "classification": "sensitive", "protection": "drop"},
        {"target": "id_no", "source": "I", "classification": "sensitive", "protection": "token",
         "token_namespace": "cn_id_number"},
        {"target": "note", "source": "N", "classification": "personal", "protection": "encrypt+token"},
    ],
})


def _things() -> pa.Table:
    return pa.table({
        "k": ["a", "b"], "v": ["张三", "李四"], "d": pa.array([date(2020, 1, 2), None], pa.date32()),
        "amt": pa.array([Decimal("3650.00"), Decimal("0.50")], pa.decimal128(18, 2)),
        "secret": ["x", "y"], "id_no": ["11010519491231002X", None], "note": [None, "备注"],
        LINE_COLUMN: pa.array([2, 3], pa.int64()),
    })


def _buyer_rows(protected: pa.Table) -> list[dict]:
    """Rows as the buyer's table holds them: `_line` stored as source_line."""
    return [{("source_line" if k == LINE_COLUMN else k): v for k, v in row.items()} for row in protected.to_pylist()]


def test_known_answer_row_serialization_and_fingerprint():
    """Protecting the row gives exactly the hand-written serialization's HMAC under the fixed audit key."""
    out = protect_rows(THINGS, _things(), fixed_ring(), "t-1", AS_OF).table

    assert out.column(FINGERPRINT_COLUMN)[0].as_py() == KAT_FINGERPRINT


def test_canonical_row_matches_the_documented_form():
    """canonical_row writes the documented JSON array, compact, with non-ASCII text as UTF-8."""
    values = [("k", "a"), ("v", "张三"), ("d", "2020-01-02"), ("amt", "3650"),
              ("id_no", "932497ae26d6950d546726882c8bdf4c355042cb869b7e56e13786524efee109"), ("note", None)]

    assert canonical_row("t-1", "things", 2, values) == KAT_ROW.encode("utf-8")


@pytest.mark.parametrize(("value", "kind", "text"), [
    (Decimal("3650.00"), FieldType.DECIMAL, "3650"),
    (Decimal("0.50"), FieldType.DECIMAL, "0.5"),
    (Decimal("-0.00"), FieldType.DECIMAL, "0"),
    (Decimal("100"), FieldType.DECIMAL, "100"),
    (3650.0, FieldType.DECIMAL, "3650"),
    ("1200.10", FieldType.DECIMAL, "1200.1"),
    (date(2020, 1, 2), FieldType.DATE, "2020-01-02"),
    ("2020-01-02", FieldType.DATE, "2020-01-02"),
    (datetime(2020, 1, 2, 0, 0), FieldType.DATE, "2020-01-02"),
    (datetime(2023, 5, 6, 7, 8, 9), FieldType.TIMESTAMP, "2023-05-06T07:08:09"),
    ("2023-05-06 07:08:09.000000", FieldType.TIMESTAMP, "2023-05-06T07:08:09"),
    (datetime(2023, 5, 6, 7, 8, 9, 120), FieldType.TIMESTAMP, "2023-05-06T07:08:09.000120"),
    ("7", FieldType.INTEGER, "7"),
    (7, FieldType.INTEGER, "7"),
    (" a b ", FieldType.STRING, " a b "),
    (1987, None, "1987"),
    ("广东省深圳市", None, "广东省深圳市"),
    (None, FieldType.STRING, None),
])
def test_canonical_values_agree_across_database_representations(value, kind, text):
    """What a database hands back (text, float, datetime) canonicalizes like the mapped Arrow value."""
    assert canonical_value(value, kind) == text


def test_buyer_rows_refingerprint_to_the_stored_fingerprints():
    """Re-fingerprinting rows read back from the target (decrypting) reproduces every stored fingerprint."""
    ring = fixed_ring()
    out = protect_rows(THINGS, _things(), ring, "t-1", AS_OF).table
    rows = _buyer_rows(out)

    assert [fingerprint_buyer_row(ring, "t-1", THINGS, r) for r in rows] == out.column(FINGERPRINT_COLUMN).to_pylist()
    assert mismatched_lines(ring, "t-1", THINGS, rows) == []


def test_database_types_do_not_change_fingerprints():
    """A SQLite-style row (decimal as float, date as text) fingerprints like the mapped row."""
    ring = fixed_ring()
    row = _buyer_rows(protect_rows(THINGS, _things(), ring, "t-1", AS_OF).table)[0]
    sqlite_row = row | {"amt": 3650.0, "d": "2020-01-02"}

    assert fingerprint_buyer_row(ring, "t-1", THINGS, sqlite_row) == row[FINGERPRINT_COLUMN]


def test_swapped_ciphertexts_are_caught_by_fingerprints():
    """Ciphertexts swapped between rows still decrypt (same column) but no longer match their fingerprints."""
    ring = fixed_ring()
    rows = _buyer_rows(protect_rows(THINGS, _things(), ring, "t-1", AS_OF).table)
    rows[0]["v"], rows[1]["v"] = rows[1]["v"], rows[0]["v"]

    assert mismatched_lines(ring, "t-1", THINGS, rows) == [2, 3]


@pytest.mark.parametrize(("column", "value"), [("k", "z"), ("amt", Decimal("3650.01")), ("d", date(2020, 1, 3)),
                                               ("source_line", 9), (FINGERPRINT_COLUMN, "0" * 64)])
def test_any_changed_field_is_caught(column, value):
    """A changed key, amount, date, source line or stored fingerprint makes the row mismatch."""
    ring = fixed_ring()
    rows = _buyer_rows(protect_rows(THINGS, _things(), ring, "t-1", AS_OF).table)
    rows[0][column] = value

    assert mismatched_lines(ring, "t-1", THINGS, rows) == [rows[0]["source_line"]]


def test_fingerprints_depend_on_transfer_and_audit_key():
    """The same rows fingerprint differently under another transfer id or another audit key."""
    ring = fixed_ring()
    base = protect_rows(THINGS, _things(), ring, "t-1", AS_OF).table.column(FINGERPRINT_COLUMN).to_pylist()
    other_transfer = protect_rows(THINGS, _things(), ring, "t-2", AS_OF).table.column(FINGERPRINT_COLUMN)

    assert not set(base) & set(other_transfer.to_pylist())
    rows = _buyer_rows(protect_rows(THINGS, _things(), ring, "t-1", AS_OF).table)
    assert mismatched_lines(ring, "t-2", THINGS, rows) == [2, 3]


def test_tampered_ciphertext_names_entity_and_source_line():
    """Re-fingerprinting a row whose ciphertext was altered fails closed, naming where, not what."""
    ring = fixed_ring()
    row = _buyer_rows(protect_rows(THINGS, _things(), ring, "t-1", AS_OF).table)[1]
    row["note"] = row["note"][:-4] + ("AAA=" if not row["note"].endswith("AAA=") else "BBB=")

    with pytest.raises(AuthenticationFailed, match="things source line 3: column note") as caught:
        fingerprint_buyer_row(ring, "t-1", THINGS, row)
    assert "备注" not in str(caught.value)


TRICKY = ['a"b', "c\\d", "x\ny", None, "张三", "\x01", "e\u2028f", "𪚥", "", " 前后 ", '\\"', "\t"]


@pytest.mark.parametrize("texts", [TRICKY, [t for t in TRICKY if t is None or not any(ord(c) < 32 for c in t)],
                                   ["abc", "张三", "", " 前后 ", "𪚥"], ["abc", None, "张三"]],
                         ids=["with-control-characters", "without", "plain", "plain-with-null"])
def test_vectorized_rows_equal_the_reference_serialization(texts):
    """canonical_rows (Arrow kernels) writes byte for byte what canonical_row (json.dumps) writes, row by row."""
    lines = pa.array(range(2, 2 + len(texts)), pa.int64())
    columns = [("k", pa.array(texts, pa.string())), ("v", pa.array(list(reversed(texts)), pa.string()))]

    rows = canonical_rows("t-\"1", "things", lines, columns).to_pylist()

    expected = [canonical_row("t-\"1", "things", line, [("k", a), ("v", b)]).decode("utf-8")
                for line, a, b in zip(lines.to_pylist(), texts, reversed(texts), strict=True)]
    assert rows == expected


def test_vectorized_canonical_columns_equal_canonical_value():
    """Decimals, dates, integers and timestamps canonicalized by Arrow equal canonical_value on each value."""
    decimals = [Decimal(x) for x in ("3650.00", "0.50", "-0.00", "100.00", "0.00", "12.30", "-1.20", "10.10",
                                     "1.05", "9999999999999999.99")] + [None]
    stamps = [datetime(2023, 5, 6, 7, 8, 9), datetime(2000, 1, 1), None]
    cases = [
        (pa.array(decimals, pa.decimal128(18, 2)), FieldType.DECIMAL, decimals),
        (pa.array([date(2020, 1, 2), None], pa.date32()), FieldType.DATE, [date(2020, 1, 2), None]),
        (pa.array([7, -3, None], pa.int64()), FieldType.INTEGER, [7, -3, None]),
        (pa.array(stamps, pa.timestamp("s")), FieldType.TIMESTAMP, stamps),
        (pa.array([1987, None], pa.int32()), None, [1987, None]),
        (pa.array([Decimal("100"), Decimal("-0"), Decimal("7"), None], pa.decimal128(10, 0)), FieldType.DECIMAL,
         [Decimal("100"), Decimal("-0"), Decimal("7"), None]),
    ]
    for array, kind, values in cases:
        assert canonical_column(array, kind).to_pylist() == [canonical_value(v, kind) for v in values], kind


@pytest.mark.parametrize("special", ['"', "\\", "\x00", "\n", "\x1f"])
def test_plain_check_sees_every_character_json_escapes(special):
    """The byte check that lets a column skip escaping flags a quote, a backslash and every control character,
    wherever the array starts in its buffers (a slice), and nothing else."""
    from booktransfer.protect.fingerprint import _plain

    texts = pa.array(["张三", "a" + special + "b", None, "plain", "\x7f\u2028"], pa.string())
    assert not _plain(texts)
    assert not _plain(texts.slice(1, 2))
    assert _plain(texts.slice(2))
    assert _plain(pa.array([None, None], pa.string()))
    assert not _plain(pa.array(["x", special], pa.large_string()).slice(1))
