"""Record-level comparison by key: every kind of difference, found without a cap."""

from __future__ import annotations

import pyarrow as pa

from booktransfer.reconcile.records import compare_entity


def _expected(keys, lines, fps):
    return pa.table({"customer_no": keys, "_line": pa.array(lines, pa.int64()), "row_fingerprint": fps})


def _actual(keys, lines, fps):
    return pa.table({"customer_no": keys, "source_line": pa.array(lines, pa.int64()), "actual_fp": fps})


def _lines(found):
    return {reason: sorted(t.column("source_line").to_pylist()) for reason, t in found.items()}


def test_identical_sets_have_no_difference():
    """Same keys, same fingerprints: nothing to report."""
    found = compare_entity(_expected(["a", "b"], [2, 3], ["f1", "f2"]), _actual(["b", "a"], [3, 2], ["f2", "f1"]),
                           ("customer_no",))
    assert _lines(found) == {"DUPLICATE_KEY": [], "MISSING_IN_TARGET": [], "UNEXPECTED_IN_TARGET": [],
                             "VALUES_DIFFER": []}


def test_each_kind_of_difference_is_typed():
    """Missing, unexpected, changed and duplicated rows each get their own reason and source line."""
    expected = _expected(["a", "b", "c", "d"], [2, 3, 4, 5], ["fa", "fb", "fc", "fd"])
    actual = _actual(["a", "c", "x", "d", "d"], [2, 4, 9, 5, 5], ["fa", "CHANGED", "fx", "fd", "fd"])
    assert _lines(compare_entity(expected, actual, ("customer_no",))) == {
        "DUPLICATE_KEY": [5, 5], "MISSING_IN_TARGET": [3], "UNEXPECTED_IN_TARGET": [9], "VALUES_DIFFER": [4]}


def test_large_sets_are_compared_whole():
    """200,000 rows with one change at the end: found, no cap."""
    n = 200_000
    keys = [f"C{i:09d}" for i in range(n)]
    fps = [f"f{i}" for i in range(n)]
    changed = fps[:-1] + ["other"]
    found = compare_entity(_expected(keys, list(range(2, n + 2)), fps), _actual(keys, list(range(2, n + 2)), changed),
                           ("customer_no",))
    assert _lines(found)["VALUES_DIFFER"] == [n + 1]
