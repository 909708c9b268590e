"""Book-level validation: what no single entity's suite can see.

After every entity ran its suite (validate.entity), this module
1. merges one person held under two customer numbers into a survivor (R17, `book_rules.yaml`),
2. re-points references to a merged customer number at its survivor,
3. checks every mapping `references:` against the seller's rows: a value no source row holds is a defect
   of the referring row (ORPHAN_REFERENCE); a value whose row was quarantined holds the referring row back
   (PARENT_QUARANTINED),
4. keeps aggregates whole: a parent loads only with all its children (DEPENDENT_QUARANTINED), and needs
   its required child in the source at all (NO_INSURED),
repeating 3-4 until nothing changes. Rows held back by 3-4 only because of another row carry a cascade
reason (`CASCADE_REASONS`), which the report and the ground-truth check keep apart from primary defects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from booktransfer.extract.reader import LINE_COLUMN
from booktransfer.mapping.apply import map_field
from booktransfer.mapping.loader import MappingSet
from booktransfer.quarantine import make_rejects
from booktransfer.validate import cn_identifiers as cn
from booktransfer.validate.book_rules import Aggregate, BookRules, MergeDuplicates
from booktransfer.validate.entity import STAGE, CheckedEntity

ORPHAN_REFERENCE = "ORPHAN_REFERENCE"
PARENT_QUARANTINED = "PARENT_QUARANTINED"
DEPENDENT_QUARANTINED = "DEPENDENT_QUARANTINED"
DUPLICATE_ID_CONFLICT = "DUPLICATE_ID_CONFLICT"
NO_INSURED = "NO_INSURED"  # NO_<required child value>, e.g. a policy without an insured person
MERGED_DUPLICATE = "MERGED_DUPLICATE"
CASCADE_REASONS = frozenset({PARENT_QUARANTINED, DEPENDENT_QUARANTINED})
MERGE_COLUMNS = ("entity", "source_file", "source_line", "survivor_line", "rule_id", "reason")


@dataclass
class EntityState:
    """One entity during book validation: its checked rows and which of them are held back or merged."""

    checked: CheckedEntity
    source_file: str
    source: pa.Table  # every source row's referenced/referring columns as mapped (map rejects included)
    rejected_lines: pa.Array  # source lines the map stage quarantined
    held: np.ndarray = field(init=False)
    merged: np.ndarray = field(init=False)
    parts: list[pa.Table] = field(default_factory=list)
    merges: pa.Table | None = None
    counts: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Start from the suite's verdict: rows that failed a critical rule are held."""
        self.held = self.checked.failed.copy()
        self.merged = np.zeros(self.checked.table.num_rows, dtype=bool)

    @property
    def table(self) -> pa.Table:
        """The entity's checked (and re-pointed) rows."""
        return self.checked.table

    def hold(self, mask: np.ndarray, rule_id: str, column: str, reason: str, only_new: bool) -> int:
        """Hold rows back with a reason; `only_new` records it only for rows not held yet. Returns rows recorded."""
        mask = mask & ~self.merged
        if only_new:
            mask = mask & ~self.held
        if not mask.any():
            return 0
        lines = self.table.column(LINE_COLUMN).combine_chunks().filter(pa.array(mask))
        self.parts.append(make_rejects(self.checked.mapping.entity, self.source_file, lines, STAGE, rule_id,
                                       column, reason))
        self.held |= mask
        return int(mask.sum())

    def live(self) -> np.ndarray:
        """Rows that will load."""
        return ~self.held & ~self.merged


def source_columns(mapping_set: MappingSet, entity: str, raw: pa.Table, columns: set[str]) -> pa.Table:
    """The given target columns for every source row (map rejects included), mapped as the map stage maps
    them, so that keys compare equal; plus `_line`."""
    fields = {f.target: f for f in mapping_set.entities[entity].fields if f.target in columns}
    data = {name: map_field(spec, raw, mapping_set)[0] for name, spec in fields.items()}
    data[LINE_COLUMN] = raw.column(LINE_COLUMN).combine_chunks()
    return pa.table(data)


def _in(values: pa.Array | pa.ChunkedArray, pool: pa.Array | pa.ChunkedArray) -> np.ndarray:
    pool = pool.combine_chunks() if isinstance(pool, pa.ChunkedArray) else pool
    return np.asarray(pc.fill_null(pc.is_in(values, value_set=pool), False))


class Lookup:
    """`_in(values, pool.filter(rows))` asked again and again as `rows` changes (rows held back pass after pass):
    values and pool are hashed once, together, into codes of their distinct values; each question is then a
    numpy scatter and gather. Nulls match nulls, as in `_in`."""

    def __init__(self, values: pa.Array | pa.ChunkedArray, pool: pa.Array | pa.ChunkedArray) -> None:
        pool = pool.combine_chunks() if isinstance(pool, pa.ChunkedArray) else pool
        values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
        both = pc.dictionary_encode(pa.concat_arrays([pool, values.cast(pool.type)]), null_encoding="encode")
        codes = np.asarray(both.indices).astype(np.int64)
        self.size = len(both.dictionary)
        self.pool_codes, self.codes = codes[:len(pool)], codes[len(pool):]

    def among(self, rows: np.ndarray | None = None) -> np.ndarray:
        """Which values the pool holds among its `rows` (a mask over the pool; None: every row)."""
        hit = np.zeros(self.size, dtype=bool)
        hit[self.pool_codes if rows is None else self.pool_codes[rows]] = True
        return hit[self.codes]


def match_keys(table: pa.Table, rule: MergeDuplicates) -> pa.Array:
    """The R17 matching key: id type and normalised ID number, a 15-digit resident ID in its 18-digit form."""
    kind = table.column(rule.id_type_column).combine_chunks()
    number = cn.ascii_fold(table.column(rule.id_column))
    resident = pc.fill_null(pc.equal(kind, rule.resident_id_type), False)
    number = pc.if_else(resident, cn.ric_match_key(number), number)
    return pc.binary_join_element_wise(kind, number, "|")


def merge_duplicates(state: EntityState, rule: MergeDuplicates) -> dict[str, str]:
    """Merge rows that hold the same person into the earliest (R17); return merged key -> survivor key.

    Only rows that passed their own rules take part. A group whose rows disagree on `same_person` is not
    merged: all its rows are quarantined (DUPLICATE_ID_CONFLICT), since the ID number itself is then suspect.
    """
    table = state.table
    live = np.flatnonzero(state.live())
    keys = match_keys(table, rule).take(pa.array(live, pa.int64()))
    frame = pa.table({"k": keys, "i": pa.array(live, pa.int64())}).filter(pc.is_valid(keys))
    counts = frame.group_by("k").aggregate([("i", "count")])
    dup_keys = counts.filter(pc.greater(counts.column("i_count"), 1)).column("k")
    rows = frame.filter(pc.is_in(frame.column("k"), value_set=dup_keys.combine_chunks()))
    groups: dict[str, list[int]] = {}
    for k, i in zip(rows.column("k").to_pylist(), rows.column("i").to_pylist(), strict=True):
        groups.setdefault(k, []).append(i)
    lines = table.column(LINE_COLUMN).combine_chunks()
    person = [table.column(c).combine_chunks() for c in rule.same_person]
    key_values = table.column(rule.key).combine_chunks()
    mapping, merged_rows, survivors, conflicts = {}, [], [], np.zeros(table.num_rows, dtype=bool)
    for members in groups.values():
        members.sort(key=lambda i: lines[i].as_py())
        if any(len({col[i].as_py() for i in members}) > 1 for col in person):
            conflicts[members] = True
            continue
        survivor = members[0]
        for i in members[1:]:
            mapping[key_values[i].as_py()] = key_values[survivor].as_py()
            merged_rows.append(i)
            survivors.append(survivor)
    state.counts["duplicate_id_conflicts"] = state.hold(conflicts, f"BOOK.{state.checked.mapping.entity}.same_id",
                                                        rule.id_column, DUPLICATE_ID_CONFLICT, only_new=False)
    state.merged[merged_rows] = True
    state.merges = _merge_records(state, merged_rows, survivors)
    state.checked.table = _with_lineage(table, rule, merged_rows, survivors)
    state.counts["merged"] = len(merged_rows)
    return mapping


def _merge_records(state: EntityState, merged: list[int], survivors: list[int]) -> pa.Table:
    """One record per merged source line, pointing at its survivor's source line (no values)."""
    lines = state.table.column(LINE_COLUMN).combine_chunks()
    n = len(merged)
    entity = state.checked.mapping.entity
    return pa.table({
        "entity": pa.array([entity] * n, pa.string()),
        "source_file": pa.array([state.source_file] * n, pa.string()),
        "source_line": lines.take(pa.array(merged, pa.int64())).cast(pa.int64()),
        "survivor_line": lines.take(pa.array(survivors, pa.int64())).cast(pa.int64()),
        "rule_id": pa.array([f"BOOK.{entity}.merge"] * n, pa.string()),
        "reason": pa.array([MERGED_DUPLICATE] * n, pa.string()),
    })


def _with_lineage(table: pa.Table, rule: MergeDuplicates, merged: list[int], survivors: list[int]) -> pa.Table:
    """The survivor rows list the customer numbers merged into them (comma-separated, in source order)."""
    keys = table.column(rule.key).combine_chunks()
    absorbed: dict[int, list[str]] = {}
    for i, s in sorted(zip(merged, survivors, strict=True)):
        absorbed.setdefault(s, []).append(keys[i].as_py())
    lineage = [None] * table.num_rows
    for s, merged_keys in absorbed.items():
        lineage[s] = ",".join(merged_keys)
    return table.append_column(rule.lineage_column, pa.array(lineage, pa.string()))


def repoint(states: dict[str, EntityState], mapping_set: MappingSet, rule: MergeDuplicates,
            survivor_of: dict[str, str]) -> None:
    """Every reference to a merged key now names its survivor (counted per entity)."""
    if not survivor_of:
        return
    merged = pa.array(list(survivor_of), pa.string())
    survivors = pa.array(list(survivor_of.values()), pa.string())
    target = f"{rule.entity}.{rule.key}"
    for entity, state in states.items():
        for spec in mapping_set.entities[entity].fields:
            if spec.references != target:
                continue
            values = state.table.column(spec.target).combine_chunks()
            replaced = pc.take(survivors, pc.index_in(values, value_set=merged))
            state.counts.setdefault("repointed", {})[spec.target] = int(pc.sum(pc.is_valid(replaced)).as_py() or 0)
            column = pc.coalesce(replaced, values)
            state.checked.table = state.table.set_column(state.table.column_names.index(spec.target), spec.target,
                                                         column)


def _once(cache: dict[tuple, Any], key: tuple, make: Callable[..., Any], *args: Any) -> Any:
    """`make(*args)`, computed on the first pass only (the rows stay the same; only which are held changes)."""
    if key not in cache:
        cache[key] = make(*args)
    return cache[key]


def check_references(states: dict[str, EntityState], mapping_set: MappingSet, first_pass: bool,
                     lookups: dict[tuple, Any] | None = None) -> bool:
    """Orphans (first pass) and cascades from quarantined parents; True when anything new was held. `lookups`
    keeps the hashed columns from one pass to the next (the rows do not change, only which are held)."""
    changed, lookups = False, {} if lookups is None else lookups
    for entity, state in states.items():
        for spec in mapping_set.entities[entity].fields:
            if not spec.references:
                continue
            parent, column = spec.references.split(".")
            values = state.table.column(spec.target).combine_chunks()
            present = np.asarray(pc.is_valid(values))
            in_source = _once(lookups, ("source", entity, spec.target), _in, values,
                              states[parent].source.column(column))
            if first_pass:
                state.hold(present & ~in_source, f"REF.{entity}.{spec.target}", spec.target, ORPHAN_REFERENCE,
                           only_new=False)
            loaded = _once(lookups, ("rows", entity, spec.target), Lookup, values,
                           states[parent].table.column(column)).among(states[parent].live())
            changed |= state.hold(present & in_source & ~loaded, f"CASCADE.{entity}.{spec.target}", spec.target,
                                  PARENT_QUARANTINED, only_new=True) > 0
    return changed


def check_aggregate(states: dict[str, EntityState], rule: Aggregate, first_pass: bool,
                    lookups: dict[tuple, Any] | None = None) -> bool:
    """A parent without its required child in the source is a defect (first pass); a parent with a child held
    back (or quarantined by the map stage) is held back. True when anything new was held."""
    lookups = {} if lookups is None else lookups
    parent, child = states[rule.parent], states[rule.child]
    keys = parent.table.column(rule.parent_key).combine_chunks()
    if first_pass and rule.required_child is not None:
        source = child.source
        needed = source.filter(pc.fill_null(pc.equal(source.column(rule.required_child.column),
                                                     rule.required_child.value), False))
        parent.hold(np.asarray(pc.is_valid(keys)) & ~_in(keys, needed.column(rule.child_key)),
                    f"BOOK.{rule.parent}.{rule.required_child.value.lower()}", rule.parent_key,
                    f"NO_{rule.required_child.value}", only_new=False)
    key = (rule.parent, rule.child, rule.child_key)
    held_children = _once(lookups, ("held", *key), Lookup, keys, child.table.column(rule.child_key))
    rejected = _once(lookups, ("rejected", *key), lambda: _in(keys, child.source.filter(pc.is_in(
        child.source.column(LINE_COLUMN), value_set=child.rejected_lines)).column(rule.child_key)))
    return parent.hold(held_children.among(child.held) | rejected, f"CASCADE.{rule.parent}.{rule.child}",
                       rule.parent_key, DEPENDENT_QUARANTINED, only_new=True) > 0


def _warm_lookups(states: dict[str, EntityState], mapping_set: MappingSet, rules: BookRules,
                  threads: int = 2) -> dict[tuple, Any]:
    """The hashed columns `check_references` and `check_aggregate` ask for on their first pass (`_once`'s keys),
    computed `threads` at a time: each is one Arrow hashing kernel over millions of keys, which runs outside the
    GIL, so the book-level step uses both cores where it used one."""
    from concurrent.futures import ThreadPoolExecutor

    wanted: dict[tuple, tuple] = {}
    for entity, state in states.items():
        for spec in mapping_set.entities[entity].fields:
            if spec.references:
                parent, column = spec.references.split(".")
                values = state.table.column(spec.target)
                wanted[("source", entity, spec.target)] = (_in, values, states[parent].source.column(column))
                wanted[("rows", entity, spec.target)] = (Lookup, values, states[parent].table.column(column))
    for rule in rules.aggregates:
        parent, child = states[rule.parent], states[rule.child]
        keys = parent.table.column(rule.parent_key)
        wanted[("held", rule.parent, rule.child, rule.child_key)] = (Lookup, keys, child.table.column(rule.child_key))
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="book-rules") as pool:
        futures = {key: pool.submit(make, *args) for key, (make, *args) in wanted.items()}
        return {key: future.result() for key, future in futures.items()}


def validate_book(checked: dict[str, CheckedEntity], mapping_set: MappingSet, rules: BookRules,
                  raw: dict[str, pa.Table], map_rejected: dict[str, pa.Array]) -> dict[str, EntityState]:
    """Apply the book-level rules to every entity (in load order) and return each entity's final state."""
    needed: dict[str, set[str]] = {e: set() for e in checked}
    for mapping in mapping_set.entities.values():
        for spec in mapping.fields:
            if spec.references:
                parent, column = spec.references.split(".")
                needed[parent].add(column)
    for agg in rules.aggregates:
        needed[agg.child].update({agg.child_key} | ({agg.required_child.column} if agg.required_child else set()))
    states = {e: EntityState(c, c.mapping.source.file, source_columns(mapping_set, e, raw[e], needed[e]),
                             map_rejected[e]) for e, c in checked.items()}
    merge = rules.merge_duplicates
    if merge is not None and merge.entity in states:
        repoint(states, mapping_set, merge, merge_duplicates(states[merge.entity], merge))
    first, lookups = True, _warm_lookups(states, mapping_set, rules)
    while True:
        changed = check_references(states, mapping_set, first, lookups)
        for agg in rules.aggregates:
            changed |= check_aggregate(states, agg, first, lookups)
        if not changed and not first:
            break
        first = False
    return states


def valid_rows(state: EntityState) -> pa.Table:
    """The rows that go on to protection and load."""
    return state.table.filter(pa.array(state.live()))


def merge_schema() -> pa.Schema:
    """The Arrow schema of merge records."""
    return pa.schema([("entity", pa.string()), ("source_file", pa.string()), ("source_line", pa.int64()),
                      ("survivor_line", pa.int64()), ("rule_id", pa.string()), ("reason", pa.string())])
