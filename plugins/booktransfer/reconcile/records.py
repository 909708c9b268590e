"""Record-level reconciliation: every row the target holds for the transfer, re-fingerprinted and compared.

Expected: the protected staging rows (source line, entity key, fingerprint taken before protection).
Actual: the buyer's rows read back, decrypted, re-canonicalized and re-fingerprinted. Compared with
vectorized joins on the entity key, never capped. Each difference gets a typed reason:

- MISSING_IN_TARGET: an expected row whose key the target lacks;
- UNEXPECTED_IN_TARGET: a target row whose key was never expected;
- DUPLICATE_KEY: a key the target holds more than once;
- VALUES_DIFFER: same key, different fingerprint; the columns that differ are named (drilled down
  against the clear staging rows), never their values.

Rows are identified by source file:line only.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from booktransfer.extract.reader import LINE_COLUMN
from booktransfer.mapping.model import EntityMapping, Protection
from booktransfer.protect.fingerprint import (
    FINGERPRINT_COLUMN,
    canonical_value,
    fingerprint_buyer_row,
    fingerprint_fields,
    value_kind,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from booktransfer.pipeline import RunContext
    from booktransfer.protect.keyring import Keyring

_KEY = "__key"


def _key_array(table: pa.Table, key: tuple[str, ...]) -> pa.Array:
    """One text key per row (entity key columns joined with U+001F)."""
    parts = [pc.fill_null(table.column(k).cast(pa.string()), "\x00") for k in key]
    return parts[0] if len(parts) == 1 else pc.binary_join_element_wise(*parts, "\x1f")


def read_target_rows(engine: Engine, entity: str, transfer_id: str) -> list[dict[str, Any]]:
    """Every row the buyer's table holds for this transfer, as dicts (streamed from the database)."""
    import sqlalchemy as sa

    table = sa.Table(entity, sa.MetaData(), autoload_with=engine)
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True).execute(
            sa.select(table).where(table.c.transfer_id == transfer_id))
        return [dict(row._mapping) for row in result]


def actual_table(ring: Keyring, transfer_id: str, mapping: EntityMapping, rows: list[dict[str, Any]]) -> pa.Table:
    """Key, source line and recomputed fingerprint of every target row."""
    prints = [fingerprint_buyer_row(ring, transfer_id, mapping, r) for r in rows]
    data = {k: pa.array([None if r[k] is None else str(r[k]) for r in rows], pa.string()) for k in mapping.key}
    data.update({"source_line": pa.array([r["source_line"] for r in rows], pa.int64()),
                 "actual_fp": pa.array(prints, pa.string())})
    return pa.table(data)


def differing_columns(ring: Keyring, mapping: EntityMapping, clear: dict[str, Any], row: dict[str, Any]) -> list[str]:
    """Which fingerprinted columns of a target row differ from the clear staged row (names only)."""
    from booktransfer.protect.ciphers import decrypt_value

    out = []
    for field in fingerprint_fields(mapping):
        if field.protection in (Protection.TOKEN, Protection.GENERALIZE):
            continue  # compared through the row fingerprint only: the staged clear value is not the stored one
        value = row.get(field.target)
        if field.protection in (Protection.ENCRYPT, Protection.ENCRYPT_TOKEN) and value is not None:
            value = decrypt_value(ring, field.target, value)
        if canonical_value(value, value_kind(field)) != canonical_value(clear.get(field.target), value_kind(field)):
            out.append(field.target)
    return out or ["(token or generalized column)"]


def compare_entity(expected: pa.Table, actual: pa.Table, key: tuple[str, ...]) -> dict[str, pa.Table]:
    """Vectorized comparison by key: duplicates, missing, unexpected, and fingerprint mismatches."""
    exp = expected.append_column(_KEY, _key_array(expected, key)).select([_KEY, LINE_COLUMN, FINGERPRINT_COLUMN])
    act = actual.append_column(_KEY, _key_array(actual, key)).select([_KEY, "source_line", "actual_fp"])
    counts = act.group_by(_KEY).aggregate([([], "count_all")])
    dup_keys = counts.filter(pc.greater(counts.column("count_all"), 1)).column(_KEY)
    duplicate = pc.is_in(act.column(_KEY), value_set=dup_keys.combine_chunks())
    single = act.filter(pc.invert(duplicate))
    joined = exp.join(single, keys=_KEY, join_type="full outer", use_threads=False)
    exp_line, act_line = joined.column(LINE_COLUMN), joined.column("source_line")
    both = pc.and_(pc.is_valid(exp_line), pc.is_valid(act_line))
    differ = pc.and_(both, pc.not_equal(joined.column(FINGERPRINT_COLUMN), joined.column("actual_fp")))
    dup_expected = pc.is_in(joined.column(_KEY), value_set=dup_keys.combine_chunks())
    missing = pc.and_(pc.and_(pc.is_valid(exp_line), pc.is_null(act_line)), pc.invert(dup_expected))
    unexpected = pc.and_(pc.is_null(exp_line), pc.is_valid(act_line))
    return {
        "DUPLICATE_KEY": act.filter(duplicate).select(["source_line"]),
        "MISSING_IN_TARGET": joined.filter(missing).select([LINE_COLUMN]).rename_columns(["source_line"]),
        "UNEXPECTED_IN_TARGET": joined.filter(unexpected).select(["source_line"]),
        "VALUES_DIFFER": joined.filter(differ).select(["source_line"]),
    }


def reconcile_records(ctx: RunContext, mapping: EntityMapping, engine: Engine) -> tuple[dict[str, Any], list[dict]]:
    """The record-level summary of one entity and its differences (source file:line, reason, columns)."""
    ring = ctx.keyring
    from booktransfer.load.stage import without_suppressed

    expected = without_suppressed(ctx, mapping.entity, ctx.read_stage("protected", mapping.entity))
    rows = read_target_rows(engine, mapping.entity, ctx.transfer_id)
    found = compare_entity(expected, actual_table(ring, ctx.transfer_id, mapping, rows), mapping.key)
    differences = []
    for reason, table in found.items():
        for line in sorted(table.column("source_line").to_pylist()):
            differences.append({"entity": mapping.entity, "source_file": mapping.source.file, "source_line": line,
                                "reason": reason, "columns": ""})
    _name_columns(ctx, mapping, rows, differences)
    counts = Counter(d["reason"] for d in differences)
    summary = {"expected": expected.num_rows, "in_target": len(rows), "matched": expected.num_rows - sum(
        counts[r] for r in ("MISSING_IN_TARGET", "VALUES_DIFFER")), **{r: counts.get(r, 0) for r in found},
        "ok": not differences}
    return summary, differences


def _name_columns(ctx: RunContext, mapping: EntityMapping, rows: list[dict[str, Any]], differences: list[dict]) -> None:
    """Drill down on VALUES_DIFFER rows only: compare with the clear staged row of the same source line."""
    lines = {d["source_line"] for d in differences if d["reason"] == "VALUES_DIFFER"}
    if not lines:
        return
    valid = ctx.read_stage("valid", mapping.entity)
    valid = valid.filter(pc.is_in(valid.column(LINE_COLUMN), value_set=pa.array(sorted(lines), pa.int64())))
    clear = {r[LINE_COLUMN]: r for r in valid.to_pylist()}
    target = {r["source_line"]: r for r in rows if r["source_line"] in lines}
    for d in differences:
        if d["reason"] == "VALUES_DIFFER":
            d["columns"] = "+".join(differing_columns(ctx.keyring, mapping, clear.get(d["source_line"], {}),
                                                      target.get(d["source_line"], {})))
