"""booktransfer.load.encode: the canonical outgoing rows and their digest."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pyarrow as pa

from booktransfer.load.encode import csv_chunks, outgoing, rows_digest


def _table(rows):
    return pa.Table.from_pylist(rows, schema=pa.schema([("k", pa.string()), ("v", pa.string()),
                                                        ("d", pa.date32()), ("m", pa.decimal128(18, 2)),
                                                        ("_line", pa.int64())]))


ROWS = [{"k": "B", "v": "x", "d": date(2020, 1, 2), "m": Decimal("1.50"), "_line": 3},
        {"k": "A", "v": None, "d": None, "m": Decimal("-2.00"), "_line": 2}]


def test_outgoing_adds_the_transfer_renames_the_line_and_sorts_by_key():
    """transfer_id comes first, `_line` becomes source_line, rows are in key order."""
    rows = outgoing(_table(ROWS), "t-1", ("k",))
    assert rows.column_names == ["transfer_id", "k", "v", "d", "m", "source_line"]
    assert rows.column("k").to_pylist() == ["A", "B"]
    assert rows.column("transfer_id").to_pylist() == ["t-1", "t-1"]


def test_digest_ignores_row_order_but_not_values_or_transfer():
    """Same rows in another order: same digest; one value or the transfer id changed: another digest."""
    base = rows_digest(outgoing(_table(ROWS), "t-1", ("k",)))
    assert rows_digest(outgoing(_table(ROWS[::-1]), "t-1", ("k",))) == base
    changed = [dict(ROWS[0], m=Decimal("1.51")), ROWS[1]]
    assert rows_digest(outgoing(_table(changed), "t-1", ("k",))) != base
    assert rows_digest(outgoing(_table(ROWS), "t-2", ("k",))) != base


def test_null_and_empty_text_are_different_on_the_wire():
    """A null is an empty unquoted field (COPY reads NULL), an empty string is quoted (COPY reads '')."""
    rows = outgoing(_table([dict(ROWS[0], v=""), dict(ROWS[1], v=None)]), "t", ("k",))
    text = b"".join(bytes(chunk) for _, chunk in csv_chunks(rows)).decode()
    assert text.splitlines() == ['"t","A",,,-2.00,2', '"t","B","",2020-01-02,1.50,3']
    assert rows_digest(rows) != rows_digest(outgoing(_table([dict(ROWS[0], v=None), dict(ROWS[1], v=None)]),
                                                     "t", ("k",)))


def test_chunks_count_their_rows():
    """Chunks report how many rows they hold, and together hold all of them."""
    rows = outgoing(_table(ROWS * 5), "t", ())
    chunks = list(csv_chunks(rows, chunk_rows=3))
    assert [n for n, _ in chunks] == [3, 3, 3, 1]
    assert sum(bytes(c).count(b"\n") for _, c in chunks) == 10


def test_rows_already_in_key_order_come_out_as_a_full_sort_gives_them():
    """Sorted, reversed and shuffled inputs (two key columns, ties, nulls) give the rows `sort_by` gives."""
    import random

    rng = random.Random(3)
    rows = [{"k": rng.choice(["A", "B", "C", None]), "v": rng.choice(["x", "y", None]), "d": None,
             "m": Decimal(rng.randrange(100)), "_line": i} for i in range(300)]
    keys = (("k",), ("k", "v"), ("k", "v", "_line"))
    for key in keys:
        ordered = sorted(rows, key=lambda r: tuple((r[c] is None, r[c] or "") if c != "_line" else (False, r[c])
                                                   for c in key))
        for variant in (ordered, ordered[::-1], rng.sample(rows, len(rows))):
            got = outgoing(_table(variant), "t", [k.replace("_line", "source_line") for k in key])
            want = got.sort_by([(k.replace("_line", "source_line"), "ascending") for k in key])
            assert got.equals(want)
        assert outgoing(_table(ordered), "t", [k.replace("_line", "source_line") for k in key]).column(
            "source_line").to_pylist() == [r["_line"] for r in ordered]
