"""Map: turn one staged source table into rows in the buyer's shape, plus the rows that could not be mapped."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from booktransfer.extract.reader import LINE_COLUMN
from booktransfer.mapping.loader import MappingSet
from booktransfer.mapping.model import FieldSpec, UnknownDefault
from booktransfer.mapping.transforms import NORMALIZERS, lookup_codes, parse_typed
from booktransfer.quarantine import concat_rejects, make_rejects

STAGE = "map"


@dataclass(frozen=True)
class MappedEntity:
    """The mapped rows (buyer columns + `_line`) and the rejects of one entity."""

    table: pa.Table
    rejects: pa.Table


def _source_values(field: FieldSpec, raw: pa.Table) -> pa.Array:
    if field.const is not None:
        return pa.array([field.const] * raw.num_rows, pa.string())
    values = raw.column(field.source).combine_chunks()
    for step in field.normalize:
        values = NORMALIZERS[step](values)
    # A blank cell is absent, not an empty string: completeness is the validator's call.
    return pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)


def map_field(field: FieldSpec, raw: pa.Table, mapping_set: MappingSet) -> tuple[pa.Array, list[tuple]]:
    """One target column's values and its failures as (mask, reason) pairs."""
    values = _source_values(field, raw)
    failures = []
    if field.lookup:
        default = field.unknown.default if isinstance(field.unknown, UnknownDefault) else None
        looked = lookup_codes(values, mapping_set.codes[field.lookup].values, default)
        failures.extend(looked.failures)
        values = looked.values
    parsed = parse_typed(values, field.type, field.format)
    failures.extend(parsed.failures)
    return parsed.values, failures


def map_entity(mapping_set: MappingSet, entity: str, raw: pa.Table) -> MappedEntity:
    """Apply an entity mapping to its staged source table; untranslatable rows leave with their reason."""
    mapping = mapping_set.entities[entity]
    lines = raw.column(LINE_COLUMN).combine_chunks()
    columns, reject_parts = {}, []
    bad = pa.array([False] * raw.num_rows, pa.bool_())
    for field in mapping.fields:
        values, failures = map_field(field, raw, mapping_set)
        columns[field.target] = values
        for mask, reason in failures:
            if pc.any(mask).as_py():
                bad = pc.or_(bad, mask)
                reject_parts.append(
                    make_rejects(entity, mapping.source.file, lines.filter(mask), STAGE,
                                 f"MAP.{entity}.{field.target}", field.source or field.target, reason)
                )
    columns[LINE_COLUMN] = lines
    table = pa.table(columns).filter(pc.invert(bad))
    return MappedEntity(table, concat_rejects(reject_parts))
