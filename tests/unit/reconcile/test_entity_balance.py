"""booktransfer.reconcile.report.entity_balance: every source line loaded once or quarantined once."""

from __future__ import annotations

import json

import pyarrow as pa

from booktransfer.quarantine import concat_rejects, make_rejects
from booktransfer.reconcile.report import entity_balance


def _rejects(*items: tuple[int, str]):
    """Reject rows from (source_line, reason) pairs."""
    parts = [make_rejects("customers", "LDPERSON.csv", pa.array([line], pa.int64()), "validate", f"R-{reason}",
                          "col", reason) for line, reason in items]
    return concat_rejects(parts)


def test_clean_split_holds():
    """Five lines, three loaded and two quarantined (distinct), balance."""
    result = entity_balance(5, [2, 3, 5], _rejects((4, "ID_FORMAT"), (6, "UNKNOWN_CODE")))

    assert result["holds"] is True
    assert (result["loaded"], result["quarantined"]) == (3, 2)
    assert result["equation"] == "5 = 3 + 2"
    assert result["rejects_by_reason"] == {"ID_FORMAT": 1, "UNKNOWN_CODE": 1}


def test_no_rejects_holds():
    """With an empty reject table, all lines loaded balance."""
    result = entity_balance(2, [2, 3], concat_rejects([]))

    assert result["holds"] is True
    assert result["quarantined"] == 0


def test_line_loaded_twice_fails():
    """A line loaded twice breaks the equation even when the total loaded equals the source rows."""
    result = entity_balance(3, [2, 2, 3], concat_rejects([]))

    assert result["holds"] is False
    assert result["loaded_twice"] == 1


def test_line_loaded_and_quarantined_fails_even_if_totals_agree():
    """A line both loaded and quarantined fails even though loaded + quarantined equals source rows."""
    result = entity_balance(3, [2, 3], _rejects((3, "ID_FORMAT")))

    assert result["loaded"] + result["quarantined"] == result["source_rows"]
    assert result["holds"] is False
    assert result["loaded_and_quarantined"] == 1


def test_line_with_two_rejects_counted_once():
    """A line with two reject records counts as one quarantined line; both reasons are tallied."""
    result = entity_balance(3, [2, 3], _rejects((4, "ID_FORMAT"), (4, "MOBILE_FORMAT")))

    assert result["holds"] is True
    assert result["quarantined"] == 1
    assert result["rejects_by_reason"] == {"ID_FORMAT": 1, "MOBILE_FORMAT": 1}


def test_lost_line_fails():
    """A source line neither loaded nor quarantined breaks the equation."""
    result = entity_balance(3, [2, 3], concat_rejects([]))

    assert result["holds"] is False
    assert result["equation"] == "3 = 2 + 0"


def test_report_is_json_serialisable():
    """The balance is plain JSON (counts and codes only)."""
    result = entity_balance(2, [2], _rejects((3, "ID_FORMAT")))

    assert json.loads(json.dumps(result)) == result


def test_merged_lines_complete_the_equation():
    """Duplicate persons merged into a survivor (R17) count as merged: source = loaded + quarantined + merged."""
    result = entity_balance(5, [2, 3], _rejects((4, "ID_FORMAT")), merged=[5, 6])

    assert result["holds"] is True
    assert (result["merged"], result["merged_and_kept"]) == (2, 0)
    assert result["equation"] == "5 = 2 + 1 + 0 + 2"


def test_merged_line_also_loaded_fails():
    """A merged line must not also be loaded (or quarantined): it was folded into its survivor."""
    result = entity_balance(3, [2, 3, 4], concat_rejects([]), merged=[4])

    assert result["holds"] is False
    assert result["merged_and_kept"] == 1


def test_cascade_lines_counted_apart():
    """Lines held back only because another row was quarantined are counted in quarantined_cascade."""
    result = entity_balance(4, [2], _rejects((3, "ORPHAN_REFERENCE"), (4, "PARENT_QUARANTINED"),
                                             (5, "PARENT_QUARANTINED"), (5, "SHARES_NOT_100")))

    assert result["holds"] is True
    assert (result["quarantined"], result["quarantined_cascade"]) == (3, 1)


def test_counts_equal_the_set_arithmetic_on_random_books():
    """The masks give what plain set arithmetic gives, lines loaded twice, beyond the file or negative included."""
    import random

    rng = random.Random(11)
    for _ in range(200):
        rows = rng.randint(1, 40)
        pool = list(range(2, rows + 4))
        loaded = [rng.choice(pool) for _ in range(rng.randint(0, rows))]
        loaded += rng.sample([10**9, -5, 2**31 - 1], rng.randint(0, 2))  # rows altered in the target
        reasons = ["ID_FORMAT", "PARENT_QUARANTINED"]
        rejects = [(rng.choice(pool), rng.choice(reasons)) for _ in range(rng.randint(0, 6))]
        suppressed, merged = rng.sample(pool, rng.randint(0, 3)), rng.sample(pool, rng.randint(0, 3))
        got = entity_balance(rows, loaded, _rejects(*rejects) if rejects else _rejects((2, "X")).slice(0, 0),
                             suppressed, merged)
        quarantined, own = {line for line, _ in rejects}, {line for line, r in rejects if r != "PARENT_QUARANTINED"}
        loaded_set, held, merged_set = set(loaded), set(suppressed), set(merged)
        assert got["loaded_twice"] == len(loaded) - len(loaded_set)
        assert got["loaded_and_quarantined"] == len(loaded_set & quarantined)
        assert got["suppressed_and_loaded_or_quarantined"] == len(held & (loaded_set | quarantined))
        assert got["merged_and_kept"] == len(merged_set & (loaded_set | quarantined | held))
        assert got["quarantined_cascade"] == len(quarantined - own)
        assert (got["quarantined"], got["suppressed"], got["merged"]) == (len(quarantined), len(held), len(merged_set))
        assert got["holds"] == (len(loaded) == len(loaded_set) and not loaded_set & quarantined
                                and not held & (loaded_set | quarantined)
                                and not merged_set & (loaded_set | quarantined | held)
                                and len(loaded_set | quarantined | held | merged_set) == rows
                                and len(loaded) + len(quarantined) + len(held) + len(merged_set) == rows)
