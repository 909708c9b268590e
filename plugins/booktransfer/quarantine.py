"""Quarantine records: why a row left the flow, identified by source file and line, never by its values."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

REJECT_COLUMNS = ("entity", "source_file", "source_line", "stage", "rule_id", "column", "reason")


def reject_schema() -> pa.Schema:
    """The Arrow schema every stage uses for its rejects."""
    import pyarrow as pa

    return pa.schema(
        [
            ("entity", pa.string()),
            ("source_file", pa.string()),
            ("source_line", pa.int64()),
            ("stage", pa.string()),
            ("rule_id", pa.string()),
            ("column", pa.string()),
            ("reason", pa.string()),
        ]
    )


def make_rejects(
    entity: str, source_file: str, lines: pa.Array, stage: str, rule_id: str, column: str, reason: str
) -> pa.Table:
    """One reject row per line in `lines`, all sharing a rule, column and reason."""
    import pyarrow as pa

    n = len(lines)
    return pa.table(
        {
            "entity": pa.array([entity] * n, pa.string()),
            "source_file": pa.array([source_file] * n, pa.string()),
            "source_line": lines.cast(pa.int64()),
            "stage": pa.array([stage] * n, pa.string()),
            "rule_id": pa.array([rule_id] * n, pa.string()),
            "column": pa.array([column] * n, pa.string()),
            "reason": pa.array([reason] * n, pa.string()),
        },
        schema=reject_schema(),
    )


def concat_rejects(parts: list[pa.Table]) -> pa.Table:
    """All reject parts as one table (an empty table with the schema when there are none)."""
    import pyarrow as pa

    return pa.concat_tables(parts) if parts else reject_schema().empty_table()
