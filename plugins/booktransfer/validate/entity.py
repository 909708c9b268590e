"""Validate: an entity's mapped rows against its buyer-schema suite and its references to earlier entities."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from booktransfer.extract.reader import LINE_COLUMN
from booktransfer.mapping.model import EntityMapping
from booktransfer.quarantine import concat_rejects, make_rejects
from booktransfer.validate.gx_suite import run_suite

STAGE = "validate"


@dataclass(frozen=True)
class ValidatedEntity:
    """Rows that passed, the rows quarantined (reasons), and a summary with counts only."""

    table: pa.Table
    rejects: pa.Table
    summary: dict[str, Any] = field(default_factory=dict)


def reference_failures(
    mapping: EntityMapping, table: pa.Table, parents: dict[str, pa.Table]
) -> list[tuple[str, str, pa.Array]]:
    """Rows whose reference points at no valid row of the parent entity (orphans), per referencing field."""
    out = []
    for spec in mapping.fields:
        if not spec.references:
            continue
        parent, column = spec.references.split(".")
        values = table.column(spec.target)
        present = pc.is_in(values, value_set=parents[parent].column(column).combine_chunks())
        orphan = pc.and_(pc.is_valid(values), pc.invert(pc.fill_null(present, False)))
        out.append((f"REF.{mapping.entity}.{spec.target}", spec.target, orphan))
    return out


def validate_entity(
    mapping: EntityMapping, table: pa.Table, suite_path: Path, parents: dict[str, pa.Table]
) -> ValidatedEntity:
    """Run the suite and the reference checks; every failing row leaves with rule id, column and reason."""
    failures, summary = run_suite(suite_path, table)
    lines = table.column(LINE_COLUMN).combine_chunks()
    bad = pa.array([False] * table.num_rows, pa.bool_())
    parts = []
    for failure in failures:
        mask = pa.array(_mask(table.num_rows, failure.positions), pa.bool_())
        bad = pc.or_(bad, mask)
        parts.append(make_rejects(mapping.entity, mapping.source.file, lines.filter(mask), STAGE,
                                  failure.rule_id, failure.column, failure.reason))
    for rule_id, column, orphan in reference_failures(mapping, table, parents):
        if pc.any(orphan).as_py():
            bad = pc.or_(bad, orphan)
            parts.append(make_rejects(mapping.entity, mapping.source.file, lines.filter(orphan), STAGE,
                                      rule_id, column, "ORPHAN_REFERENCE"))
            summary["failed_rules"].append({"rule_id": rule_id, "reason": "ORPHAN_REFERENCE",
                                            "rows": pc.sum(orphan.cast(pa.int64())).as_py()})
    valid = table.filter(pc.invert(bad))
    summary.update(rows_in=table.num_rows, rows_valid=valid.num_rows, rows_quarantined=table.num_rows - valid.num_rows)
    return ValidatedEntity(valid, concat_rejects(parts), summary)


def _mask(n: int, positions: list[int]) -> list[bool]:
    mask = [False] * n
    for p in positions:
        mask[p] = True
    return mask
