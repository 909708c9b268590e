"""Map: turn an entity's staged source file(s) into rows in the buyer's shape, plus the rows that could not be mapped.

Joined files are merged first: each of their rows must belong to exactly one row of the main file, so a
joined row that matches nothing, or shares its key with another, is quarantined from its own file.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from booktransfer.extract.reader import LINE_COLUMN
from booktransfer.mapping.loader import MappingSet
from booktransfer.mapping.model import EntityMapping, FieldSpec, JoinSpec, UnknownDefault
from booktransfer.mapping.transforms import NORMALIZERS, lookup_codes, parse_typed
from booktransfer.quarantine import concat_rejects, make_rejects

STAGE = "map"
_POS = "__pos"


@dataclass(frozen=True)
class MappedEntity:
    """The mapped rows (buyer columns + `_line`), the rejects, and each joined file's balance."""

    table: pa.Table
    rejects: pa.Table
    joins: dict[str, dict[str, int | str]] = field(default_factory=dict)


def _null_blank(values: pa.Array) -> pa.Array:
    # A blank cell is absent, not an empty string: completeness is the validator's call.
    return pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)


def _column(raw: pa.Table, name: str, spec: FieldSpec) -> pa.Array:
    values = raw.column(name).combine_chunks()
    for step in spec.normalize:
        values = NORMALIZERS[step](values)
    return values


def _source_values(spec: FieldSpec, raw: pa.Table) -> tuple[pa.Array, list[tuple[pa.Array, str]]]:
    """The field's text values before lookup and parsing, and any split failures."""
    if spec.const is not None:
        return pa.array([spec.const] * raw.num_rows, pa.string()), []
    if spec.concat is not None:
        columns = [_null_blank(_column(raw, c, spec)) for c in spec.concat]
        joined = pc.binary_join_element_wise(*[pc.fill_null(c, "") for c in columns], spec.separator)
        all_blank = columns[0].is_null()
        for c in columns[1:]:
            all_blank = pc.and_(all_blank, c.is_null())
        return pc.if_else(all_blank, pa.scalar(None, pa.string()), joined), []
    if spec.split is not None:
        whole = _null_blank(_column(raw, spec.split.source, spec))
        pieces = pc.split_pattern(whole, spec.split.separator)
        short = pc.fill_null(pc.less_equal(pc.list_value_length(pieces), spec.split.index), False)
        safe = pc.if_else(short, pa.scalar(None, pieces.type), pieces)
        value = pc.list_element(pc.fill_null(safe, pa.scalar([""] * (spec.split.index + 1), pieces.type)),
                                spec.split.index)
        value = pc.if_else(pc.is_null(safe), pa.scalar(None, pa.string()), value)
        missing = pc.and_(pc.is_valid(whole), short)
        return _null_blank(pc.utf8_trim_whitespace(value)), [(missing, "SPLIT_PART_MISSING")]
    return _null_blank(_column(raw, spec.source, spec)), []


def map_field(spec: FieldSpec, raw: pa.Table, mapping_set: MappingSet) -> tuple[pa.Array, list[tuple]]:
    """One target column's values and its failures as (mask, reason) pairs."""
    values, failures = _source_values(spec, raw)
    if spec.lookup:
        default = spec.unknown.default if isinstance(spec.unknown, UnknownDefault) else None
        looked = lookup_codes(values, mapping_set.codes[spec.lookup].values, default)
        failures.extend(looked.failures)
        values = looked.values
    parsed = parse_typed(values, spec.type, spec.formats, spec.excel_serial)
    failures.extend(parsed.failures)
    return parsed.values, failures


def _join_one(main: pa.Table, other: pa.Table, join: JoinSpec, entity: str) -> tuple[pa.Table, list, dict]:
    """Left-join `other` (columns renamed `alias.Column`) onto `main`; quarantine its unmatched/duplicate rows."""
    key = pc.utf8_trim_whitespace(other.column(join.right_on).combine_chunks())
    lines = other.column(LINE_COLUMN).combine_chunks()
    counts = pc.value_counts(key)
    dup_keys = counts.field("values").filter(pc.greater(counts.field("counts"), 1))
    duplicate = pc.fill_null(pc.is_in(key, value_set=dup_keys), False)
    main_keys = pc.utf8_trim_whitespace(main.column(join.left_on).combine_chunks())
    unmatched = pc.and_(pc.invert(duplicate), pc.invert(pc.fill_null(pc.is_in(key, value_set=main_keys), False)))
    unmatched = pc.or_(unmatched, pc.equal(key, ""))
    rejects = [make_rejects(entity, join.file, lines.filter(duplicate), STAGE, f"JOIN.{entity}.{join.alias}",
                            join.right_on, "DUPLICATE_JOIN_KEY"),
               make_rejects(entity, join.file, lines.filter(unmatched), STAGE, f"JOIN.{entity}.{join.alias}",
                            join.right_on, "UNMATCHED_JOIN_ROW")]
    keep = pc.invert(pc.or_(duplicate, unmatched))
    renamed = other.rename_columns([f"{join.alias}.{c}" if c != LINE_COLUMN else f"{LINE_COLUMN}.{join.alias}"
                                    for c in other.column_names])
    right = renamed.filter(keep).append_column("__key", key.filter(keep))
    left = main.append_column("__key", main_keys)
    joined = left.join(right, keys="__key", join_type="left outer", use_threads=False)
    joined = joined.sort_by(_POS).drop_columns(["__key"])
    balance = {"file": join.file, "rows": other.num_rows,
               "matched": other.num_rows - pc.sum(pc.or_(duplicate, unmatched).cast(pa.int64())).as_py(),
               "quarantined": pc.sum(pc.or_(duplicate, unmatched).cast(pa.int64())).as_py()}
    return joined, rejects, balance


def merge_sources(mapping: EntityMapping, raw: pa.Table, joined: dict[str, pa.Table]) -> tuple[pa.Table, list, dict]:
    """The main file with every joined file merged in, plus join rejects and balances."""
    table = raw.append_column(_POS, pa.array(range(raw.num_rows), pa.int64()))
    rejects, balances = [], {}
    for join in mapping.source.joins:
        table, join_rejects, balances[join.alias] = _join_one(table, joined[join.alias], join, mapping.entity)
        rejects.extend(join_rejects)
        if join.how == "inner":
            missing = pc.is_null(table.column(f"{LINE_COLUMN}.{join.alias}"))
            rejects.append(make_rejects(mapping.entity, mapping.source.file,
                                        table.column(LINE_COLUMN).combine_chunks().filter(missing), STAGE,
                                        f"JOIN.{mapping.entity}.{join.alias}", join.left_on, "NO_JOIN_MATCH"))
            table = table.filter(pc.invert(missing))
    return table.drop_columns([_POS]), rejects, balances


def map_entity(mapping_set: MappingSet, entity: str, raw: pa.Table,
               joined: dict[str, pa.Table] | None = None) -> MappedEntity:
    """Apply an entity mapping to its staged source table(s); untranslatable rows leave with their reason."""
    mapping = mapping_set.entities[entity]
    raw, reject_parts, balances = merge_sources(mapping, raw, joined or {})
    lines = raw.column(LINE_COLUMN).combine_chunks()
    columns = {}
    bad = pa.array([False] * raw.num_rows, pa.bool_())
    for spec in mapping.fields:
        values, failures = map_field(spec, raw, mapping_set)
        columns[spec.target] = values
        for mask, reason in failures:
            if pc.any(mask).as_py():
                bad = pc.or_(bad, mask)
                column = "+".join(spec.source_columns) or spec.target
                reject_parts.append(make_rejects(entity, mapping.source.file, lines.filter(mask), STAGE,
                                                 f"MAP.{entity}.{spec.target}", column, reason))
    columns[LINE_COLUMN] = lines
    table = pa.table(columns).filter(pc.invert(bad))
    return MappedEntity(table, concat_rejects([r for r in reject_parts if r.num_rows]), balances)
