"""Record-level comparison by key: every kind of difference, found without a cap."""

from __future__ import annotations

import pyarrow as pa

from booktransfer.reconcile.records import compare_entity


def _expected(keys, lines, fps):
    return pa.table({"customer_no": pa.array(keys, pa.string()), "_line": pa.array(lines, pa.int64()),
                     "row_fingerprint": pa.array(fps, pa.string())})


def _actual(keys, lines, fps):
    return pa.table({"customer_no": pa.array(keys, pa.string()), "source_line": pa.array(lines, pa.int64()),
                     "actual_fp": pa.array(fps, pa.string())})


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


def test_lookup_by_index_equals_the_join_on_random_sets():
    """compare_entity (index lookup and counts) finds what the full outer join finds, on 300 random pairs of sets
    with missing, unexpected, duplicated (expected or not) and changed rows, one- and two-column keys."""
    import random

    from booktransfer.reconcile.records import compare_by_join

    rng = random.Random(11)
    seen = set()
    for case in range(300):
        n = rng.randint(0, 40)
        keys = [f"K{i}" for i in rng.sample(range(60), n)]
        expected = _expected(keys, list(range(2, n + 2)), [f"f{k}" for k in keys])
        rows = [(k, line, f"f{k}") for k, line in zip(keys, range(2, n + 2), strict=True) if rng.random() > 0.2]
        rows += [(f"K{rng.randint(0, 80)}", 100 + i, "fx") for i in range(rng.randint(0, 5))]  # strays or doubles
        rows = [(k, line, fp if rng.random() > 0.15 else "CHANGED") for k, line, fp in rows]
        rng.shuffle(rows)
        actual = _actual([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
        if case % 2:  # a two-column key: the same rows, the key split in two
            def part(table):
                return pa.array([v[:2] for v in table.column("customer_no").to_pylist()], pa.string())

            expected = expected.append_column("part", part(expected))
            actual = actual.append_column("part", part(actual))
            key = ("part", "customer_no")
        else:
            key = ("customer_no",)
        found = _lines(compare_entity(expected, actual, key))
        assert found == _lines(compare_by_join(expected, actual, key)), case
        seen.update(reason for reason, lines in found.items() if lines)
    assert seen == {"DUPLICATE_KEY", "MISSING_IN_TARGET", "UNEXPECTED_IN_TARGET", "VALUES_DIFFER"}


def test_duplicate_expected_keys_fall_back_to_the_join():
    """Expected keys are unique after validation; if they are not, the join's answer is given."""
    expected = _expected(["a", "a", "b"], [2, 3, 4], ["fa", "fa2", "fb"])
    actual = _actual(["a", "b"], [2, 4], ["fa", "fb"])
    found = _lines(compare_entity(expected, actual, ("customer_no",)))
    assert found["MISSING_IN_TARGET"] == [] and found["VALUES_DIFFER"] == [2]


def test_joined_keys_refuses_a_key_holding_the_separator():
    """Keys go to the server as one text split on U+001F: a key holding one would split wrongly, so it stops."""
    import pytest

    from booktransfer.reconcile.records import joined_keys

    assert joined_keys(["a", "b", ""]) == "a\x1fb\x1f"
    assert joined_keys([]) == ""
    with pytest.raises(ValueError, match="U\\+001F"):
        joined_keys(["a", "b\x1fc"])


def test_same_keys_in_any_order_are_compared_row_by_row_as_the_lookup_would():
    """Target rows holding exactly the expected keys (shuffled, some values changed; one- and two-column keys)
    take the row-by-row path and find what the join finds; a key missing, added or doubled sends the
    comparison back to the lookup by key."""
    import random

    from booktransfer.reconcile.records import compare_aligned, compare_by_join

    rng = random.Random(5)
    for case in range(200):
        n = rng.randint(1, 50)
        keys = [f"K{i}" for i in rng.sample(range(90), n)]
        expected = _expected(keys, list(range(2, n + 2)), [f"f{k}" for k in keys])
        rows = [(k, line, f"f{k}" if rng.random() > 0.2 else "CHANGED")
                for k, line in zip(keys, range(2, n + 2), strict=True)]
        rng.shuffle(rows)
        actual = _actual([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
        key = ("customer_no",)
        if case % 2:
            def part(table):
                return pa.array([v[:2] for v in table.column("customer_no").to_pylist()], pa.string())

            expected = expected.append_column("part", part(expected))
            actual = actual.append_column("part", part(actual))
            key = ("part", "customer_no")
        aligned = compare_aligned(expected, actual, key)
        assert aligned is not None, case
        assert _lines(aligned) == _lines(compare_by_join(expected, actual, key)) == _lines(
            compare_entity(expected, actual, key)), case
        assert _lines(aligned)["VALUES_DIFFER"] == sorted(r[1] for r in rows if r[2] == "CHANGED")
        if n > 1:
            other = actual.slice(1)  # one key missing, one key added (the first row's key renamed), one doubled
            for changed in (other, pa.concat_tables([other, actual.slice(0, 1).set_column(
                    actual.column_names.index("customer_no"), "customer_no", pa.array(["Z9"]))]),
                            pa.concat_tables([other, other.slice(0, 1)])):
                assert compare_aligned(expected, changed, key) is None, case
                assert _lines(compare_entity(expected, changed, key)) == _lines(compare_by_join(expected, changed, key))


def test_a_key_twice_on_both_sides_is_not_compared_row_by_row():
    """Expected keys that repeat (validation keeps them unique; if not) take the join, even when the target
    holds the same rows: its answer names the doubled key."""
    from booktransfer.reconcile.records import compare_aligned

    expected = _expected(["a", "a", "b"], [2, 3, 4], ["fa", "fa", "fb"])
    actual = _actual(["a", "a", "b"], [2, 3, 4], ["fa", "fa", "fb"])
    assert compare_aligned(expected, actual, ("customer_no",)) is None
    assert _lines(compare_entity(expected, actual, ("customer_no",)))["DUPLICATE_KEY"] == [2, 3]
