"""Compare a run's quarantine with the sample generator's ground truth (`booktransfer sample --defect-rate`).

The generator injects at most one defect per row and lists it as `file,line,key,column,defect`. Each defect
name has exactly one expected outcome here (the 1:1 correspondence, docs/validation.md):

| generator defect   | expected outcome                                                     |
|--------------------|----------------------------------------------------------------------|
| ID_CHECK_DIGIT     | quarantined, reason ID_CHECK_DIGIT                                   |
| MISSING_MANDATORY  | quarantined, reason MISSING_MANDATORY                                |
| DUPLICATE_PERSON   | merged into the earlier row of the same person (R17)                 |
| ORPHAN_POLICY      | quarantined, reason ORPHAN_REFERENCE                                 |
| IMPOSSIBLE_DATE    | quarantined by the map stage, reason UNPARSEABLE_DATE                |
| UNKNOWN_CODE       | quarantined by the map stage, reason UNKNOWN_CODE                    |
| FULLWIDTH_DIGITS   | normalised and loaded                                                |
| LOWERCASE_X        | normalised and loaded                                                |
| EXCEL_DAMAGED_ID   | quarantined, reason EXCEL_DAMAGED_ID                                 |
| SHARES_NOT_100     | quarantined, reason SHARES_NOT_100                                   |

Precision and recall are taken on primary outcomes: a line's primary reasons are its reject reasons other
than the cascade ones (PARENT_QUARANTINED, DEPENDENT_QUARANTINED), which only say that another row was
quarantined; merging is an outcome of its own. A line is a true positive when the truth lists it with a
defect whose outcome is quarantine or merge and the run gave it exactly that outcome (the one reason, no
other primary reason); every other line with a primary outcome is a false positive; every listed line
without its exact outcome is a false negative. Lines whose defect is only representation (full-width
digits, lower-case x) must be loaded; they are checked apart, as are the cascade lines.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from booktransfer.validate.book import CASCADE_REASONS

MERGED = "MERGED"
LOADED = "LOADED"
EXPECTED_OUTCOME = {
    "ID_CHECK_DIGIT": "ID_CHECK_DIGIT",
    "MISSING_MANDATORY": "MISSING_MANDATORY",
    "DUPLICATE_PERSON": MERGED,
    "ORPHAN_POLICY": "ORPHAN_REFERENCE",
    "IMPOSSIBLE_DATE": "UNPARSEABLE_DATE",
    "UNKNOWN_CODE": "UNKNOWN_CODE",
    "FULLWIDTH_DIGITS": LOADED,
    "LOWERCASE_X": LOADED,
    "EXCEL_DAMAGED_ID": "EXCEL_DAMAGED_ID",
    "SHARES_NOT_100": "SHARES_NOT_100",
}


@dataclass
class RunOutcomes:
    """What a run did with each source line, per file: reject reasons (and columns), merges, loaded lines."""

    reasons: dict[str, dict[int, set[str]]] = field(default_factory=dict)
    columns: dict[str, dict[int, set[str]]] = field(default_factory=dict)
    merged: dict[str, set[int]] = field(default_factory=dict)
    loaded: dict[str, set[int]] = field(default_factory=dict)

    def add_rejects(self, rows: Iterable[dict[str, Any]]) -> None:
        """Reject records (dicts with source_file, source_line, reason, column)."""
        for r in rows:
            self.reasons.setdefault(r["source_file"], {}).setdefault(r["source_line"], set()).add(r["reason"])
            self.columns.setdefault(r["source_file"], {}).setdefault(r["source_line"], set()).add(r["column"])

    def primary(self, file: str, line: int) -> set[str]:
        """The line's primary outcome: its non-cascade reasons, plus MERGED when it was merged."""
        out = self.reasons.get(file, {}).get(line, set()) - CASCADE_REASONS
        return out | ({MERGED} if line in self.merged.get(file, set()) else set())


def read_truth(path: Path) -> list[dict[str, Any]]:
    """The generator's truth file as dicts (line as int)."""
    with path.open(encoding="utf-8", newline="") as fh:
        return [{**row, "line": int(row["line"])} for row in csv.DictReader(fh)]


def compare(truth: list[dict[str, Any]], run: RunOutcomes,
            source_column: dict[tuple[str, str], str] | None = None) -> dict[str, Any]:
    """Precision, recall and every mismatch (file, line, defect, what the run did), counts by defect.

    `source_column` maps (file, reject column) to the seller's column, to check that the reject names the
    column the defect is in (the buyer column for validate rejects, the seller column for map rejects).
    """
    listed = {(t["file"], t["line"]): t for t in truth}
    expected_flags = {k for k, t in listed.items() if EXPECTED_OUTCOME[t["defect"]] != LOADED}
    flagged = {(f, line) for f, lines in run.reasons.items() for line in lines if run.primary(f, line)}
    flagged |= {(f, line) for f, lines in run.merged.items() for line in lines}
    true_pos, wrong, wrong_column = set(), [], []
    for key in flagged:
        t = listed.get(key)
        got = sorted(run.primary(*key))
        if t is not None and got == [EXPECTED_OUTCOME[t["defect"]]]:
            true_pos.add(key)
            columns = run.columns.get(key[0], {}).get(key[1], set())
            if source_column is not None and got != [MERGED] and t["column"] not in {
                    source_column.get((key[0], c), c) for c in columns}:
                wrong_column.append({"file": key[0], "line": key[1], "defect": t["defect"], "column": t["column"],
                                     "got": sorted(columns)})
        else:
            wrong.append({"file": key[0], "line": key[1], "defect": t["defect"] if t else None, "got": got})
    missed = [{"file": k[0], "line": k[1], "defect": listed[k]["defect"], "got": sorted(run.primary(*k))}
              for k in sorted(expected_flags - true_pos)]
    not_loaded = [{"file": k[0], "line": k[1], "defect": t["defect"]} for k, t in sorted(listed.items())
                  if EXPECTED_OUTCOME[t["defect"]] == LOADED and k[1] not in run.loaded.get(k[0], set())]
    by_defect: dict[str, dict[str, int]] = {}
    for k, t in listed.items():
        entry = by_defect.setdefault(t["defect"], {"injected": 0, "caught": 0})
        entry["injected"] += 1
        entry["caught"] += int(k in true_pos or (EXPECTED_OUTCOME[t["defect"]] == LOADED
                                                  and k[1] in run.loaded.get(k[0], set())))
    cascade = sum(1 for f, lines in run.reasons.items() for line, reasons in lines.items()
                  if reasons and reasons <= CASCADE_REASONS and line not in run.merged.get(f, set()))
    return {
        "precision": len(true_pos) / len(flagged) if flagged else 1.0,
        "recall": len(true_pos) / len(expected_flags) if expected_flags else 1.0,
        "true_positives": len(true_pos),
        "flagged": len(flagged),
        "expected": len(expected_flags),
        "false_positives": sorted(wrong, key=lambda w: (w["file"], w["line"])),
        "false_negatives": missed,
        "wrong_column": sorted(wrong_column, key=lambda w: (w["file"], w["line"])),
        "normalised_not_loaded": not_loaded,
        "cascade_lines": cascade,
        "by_defect": dict(sorted(by_defect.items())),
    }
