"""Validation over partitions: what the book-level step reads of each partition, and what it writes back.

Each partition's suite run (validate.stage.check_partition) writes the partition's checked rows (canonical
identifiers, `__failed` = a critical rule failed) to `checked/`. The book-level step then reads only the columns
the book rules need (`narrow_columns`: keys, references, the R17 columns, unique keys) from every partition,
adds the uniqueness failures a partition's suite could not see (`cross_partition_duplicates`), applies the
book rules (validate.book) to the whole book, and writes each partition's decisions (`decisions_table`: its
live rows by source line, their references re-pointed to merge survivors, the lineage column). A partition's
valid rows are its checked rows with those decisions applied (`apply_decisions`), exactly as a one-partition
run would have them; the protect task of the partition writes them (`valid/`) before it protects them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from booktransfer.extract.reader import LINE_COLUMN
from booktransfer.mapping.loader import MappingSet
from booktransfer.partitioning import PART_COLUMN
from booktransfer.quarantine import make_rejects
from booktransfer.validate.book import EntityState
from booktransfer.validate.book_rules import BookRules
from booktransfer.validate.entity import STAGE

FAILED_COLUMN = "__failed"
UNIQUE_TYPES = ("expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique")


def unique_rules(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The suite's uniqueness expectations: {rule_id, reason, column (for the quarantine), columns}."""
    out = []
    for exp in doc.get("expectations", []):
        if exp["type"] not in UNIQUE_TYPES:
            continue
        kwargs, meta = exp.get("kwargs", {}), exp.get("meta", {})
        columns = [kwargs["column"]] if "column" in kwargs else list(kwargs.get("column_list", []))
        out.append({"rule_id": meta["rule_id"], "reason": meta["reason"], "columns": columns,
                    "column": meta.get("column") or columns[0],
                    "compound": exp["type"] == "expect_compound_columns_to_be_unique"})
    return out


def narrow_columns(mapping_set: MappingSet, rules: BookRules, docs: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """Per entity, the checked columns the book-level step needs (besides `_line`, `__failed`)."""
    need: dict[str, set[str]] = {e: set(spec.key) for e, spec in mapping_set.entities.items()}
    for entity, spec in mapping_set.entities.items():
        for f in spec.fields:
            if f.references:
                parent, column = f.references.split(".")
                need[entity].add(f.target)
                need[parent].add(column)
        for rule in unique_rules(docs.get(entity, {})):
            need[entity].update(rule["columns"])
    merge = rules.merge_duplicates
    if merge is not None and merge.entity in need:
        need[merge.entity].update({merge.key, merge.id_type_column, merge.id_column, *merge.same_person})
    for agg in rules.aggregates:
        need[agg.parent].add(agg.parent_key)
        need[agg.child].add(agg.child_key)
    return {e: sorted(cols) for e, cols in need.items()}


def _key_text(table: pa.Table, columns: list[str], compound: bool) -> tuple[pa.Array, np.ndarray]:
    """One comparable text per row, and which rows take part (GX: nulls skipped; compound: all-null skipped)."""
    texts = [table.column(c).combine_chunks().cast(pa.string()) for c in columns]
    if not compound:
        return texts[0], np.asarray(pc.is_valid(texts[0]))
    present = np.zeros(table.num_rows, dtype=bool)
    for t in texts:
        present |= np.asarray(pc.is_valid(t))
    marked = [pc.fill_null(pc.binary_join_element_wise(pa.scalar("v"), t, ""), "\x00") for t in texts]
    return pc.binary_join_element_wise(*marked, "\x1f"), present


def cross_partition_duplicates(table: pa.Table, rule: dict[str, Any]) -> np.ndarray:
    """Rows whose unique key occurs more than once in the book but only once in their own partition: the
    duplicates a partition's suite could not see (those within a partition it already failed).

    One hash pass numbers the distinct keys (`dictionary_encode`) and a count per number finds the keys held
    twice (about half the time of a group-by over every row); only their rows are looked at per partition."""
    keys, present = _key_text(table, rule["columns"], rule["compound"])
    mask = np.zeros(table.num_rows, dtype=bool)
    if not present.any():
        return mask
    encoded = pc.dictionary_encode(keys)
    codes = np.asarray(pc.fill_null(encoded.indices, 0), dtype=np.int64)
    counts = np.bincount(codes[present], minlength=len(encoded.dictionary))
    dups = np.flatnonzero(present & (counts[codes] > 1))
    if not len(dups):
        return mask
    parts = np.asarray(table.column(PART_COLUMN).combine_chunks(), dtype=np.int64)
    pairs = codes[dups] * (int(parts.max()) + 1) + parts[dups]  # (key, partition) as one number
    _, where, in_part = np.unique(pairs, return_inverse=True, return_counts=True)
    mask[dups[in_part[where] == 1]] = True
    return mask


def add_duplicate_failures(entity_mapping: Any, table: pa.Table, failed: np.ndarray, doc: dict[str, Any],
                           summary: dict[str, Any]) -> list[pa.Table]:
    """Fail (and quarantine) the cross-partition duplicates of every uniqueness rule; returns the reject parts."""
    parts = []
    lines = table.column(LINE_COLUMN).combine_chunks()
    for rule in unique_rules(doc):
        mask = cross_partition_duplicates(table, rule)
        if not mask.any():
            continue
        failed |= mask
        parts.append(make_rejects(entity_mapping.entity, entity_mapping.source.file, lines.filter(pa.array(mask)),
                                  STAGE, rule["rule_id"], rule["column"], rule["reason"]))
        entries = summary.setdefault("failed_rules", [])
        entry = next((r for r in entries if r["rule_id"] == rule["rule_id"]), None)
        if entry is None:
            entries.append({"rule_id": rule["rule_id"], "reason": rule["reason"], "rows": int(mask.sum())})
        else:
            entry["rows"] += int(mask.sum())
    return parts


def merge_summaries(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One entity's suite summary over its partitions: failures and warnings per rule added up."""
    out: dict[str, Any] = {"suite": parts[0]["suite"] if parts else "", "evaluated": 0, "failed_rules": [],
                           "warnings": [], "normalized": {}}
    for part in parts:
        out["evaluated"] = max(out["evaluated"], part.get("evaluated", 0))
        for key in ("failed_rules", "warnings"):
            for entry in part.get(key, []):
                mine = next((r for r in out[key] if r["rule_id"] == entry["rule_id"]), None)
                if mine is None:
                    out[key].append(dict(entry))
                else:
                    mine["rows"] += entry["rows"]
        for column, n in part.get("normalized", {}).items():
            out["normalized"][column] = out["normalized"].get(column, 0) + n
    return out


def decisions_table(state: EntityState, partition: int, replaced: list[str], lineage: str | None) -> pa.Table:
    """The book's verdict on one partition's rows of an entity: its live rows (source line), with the `replaced`
    columns (references, re-pointed to merge survivors) and the `lineage` column as the book state holds them."""
    mine = np.asarray(pc.equal(state.table.column(PART_COLUMN), partition)) & state.live()
    columns = [LINE_COLUMN, *replaced] + ([lineage] if lineage is not None else [])
    return state.table.select(columns).filter(pa.array(mine))


def apply_decisions(checked: pa.Table, decisions: pa.Table) -> pa.Table:
    """A partition's valid rows: its checked rows that live on, in their order, with the decided columns replaced
    (or, for the lineage column, appended)."""
    where = pc.index_in(checked.column(LINE_COLUMN), value_set=decisions.column(LINE_COLUMN).combine_chunks())
    table = checked.drop_columns([c for c in (FAILED_COLUMN,) if c in checked.column_names])
    for column in decisions.column_names:
        if column == LINE_COLUMN:
            continue
        values = decisions.column(column).combine_chunks().take(where)
        table = (table.set_column(table.column_names.index(column), column, values) if column in table.column_names
                 else table.append_column(column, values))
    return table.filter(pc.is_valid(where))


def partition_counts(state: EntityState, partition: int) -> dict[str, int]:
    """A partition's share of an entity's verdict (for its Data Docs line)."""
    mine = np.asarray(pc.equal(state.table.column(PART_COLUMN), partition))
    return {"rows_in": int(mine.sum()), "rows_valid": int((mine & state.live()).sum()),
            "rows_quarantined_primary": "", "rows_quarantined_cascade": "",
            "rows_quarantined": int((mine & state.held).sum()), "rows_merged": int((mine & state.merged).sum())}
