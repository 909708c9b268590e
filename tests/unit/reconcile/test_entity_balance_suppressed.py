"""booktransfer.reconcile.report.entity_balance with data-subject requests: source = loaded + quarantined +
suppressed, each source line in exactly one of the three."""

from __future__ import annotations

import pyarrow as pa

from booktransfer.quarantine import concat_rejects, make_rejects
from booktransfer.reconcile.report import entity_balance


def _rejects(*lines: int):
    return concat_rejects([make_rejects("customers", "LDPERSON.csv", pa.array([n], pa.int64()), "validate", "R",
                                        "col", "ID_FORMAT") for n in lines])


def test_suppressed_lines_complete_the_equation():
    """Six lines: three loaded, one quarantined, two suppressed."""
    result = entity_balance(6, [2, 3, 4], _rejects(5), suppressed=[6, 7])
    assert result["holds"] is True
    assert (result["loaded"], result["quarantined"], result["suppressed"]) == (3, 1, 2)
    assert result["equation"] == "6 = 3 + 1 + 2"


def test_a_suppressed_line_that_was_also_loaded_breaks_the_equation():
    """A suppressed person's row found in the target fails the check even if the totals agree."""
    result = entity_balance(4, [2, 3, 4], _rejects(), suppressed=[4])
    assert result["holds"] is False
    assert result["suppressed_and_loaded_or_quarantined"] == 1


def test_without_requests_the_equation_reads_as_before():
    """No suppression: same numbers and wording as the two-term equation."""
    result = entity_balance(3, [2, 3], _rejects(4))
    assert (result["holds"], result["suppressed"], result["equation"]) == (True, 0, "3 = 2 + 1")
