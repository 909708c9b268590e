"""Validate one entity on its own: fold identifiers to their canonical representation, run its suite (plus the
control-file row count), and say which rows failed which rule. Book-level rules come after (validate.book)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from booktransfer.extract.reader import LINE_COLUMN
from booktransfer.mapping.model import EntityMapping
from booktransfer.quarantine import make_rejects
from booktransfer.validate import cn_identifiers as cn
from booktransfer.validate.gx_suite import RuleFailure, run_suite

STAGE = "validate"
ROW_COUNT_REASON = "ROW_COUNT_MISMATCH"
# Expectation types whose first column holds an identifier with a canonical representation (R12, R19).
ID_TYPES = ("expect_resident_id_numbers_to_be_free_of_excel_damage", "expect_resident_id_numbers_to_be_well_formed",
            "expect_resident_id_birth_dates_to_be_real", "expect_resident_id_check_digits_to_be_correct",
            "expect_credit_codes_to_be_well_formed", "expect_credit_code_check_characters_to_be_correct")
MOBILE_TYPES = ("expect_column_values_to_be_cn_mobile_numbers",)


@dataclass
class CheckedEntity:
    """One entity after its suite: canonical rows, which failed (critical rules), rejects, warnings, summary."""

    mapping: EntityMapping
    table: pa.Table
    failed: np.ndarray
    rejects: list[pa.Table] = field(default_factory=list)
    warnings: list[pa.Table] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    result: Any = None


def canonical_forms(doc: dict[str, Any]) -> dict[str, Callable[[pa.Array], pa.Array]]:
    """Column -> representation fold, for the columns the suite checks as identifiers or mobile numbers."""
    forms: dict[str, Callable[[pa.Array], pa.Array]] = {}
    for exp in doc.get("expectations", []):
        kwargs = exp.get("kwargs", {})
        if exp["type"] in ID_TYPES and kwargs.get("column_list"):
            forms[kwargs["column_list"][0]] = cn.ascii_fold
        elif exp["type"] in MOBILE_TYPES and kwargs.get("column"):
            forms[kwargs["column"]] = cn.normalize_mobile
    return forms


def canonicalize(table: pa.Table, forms: dict[str, Callable[[pa.Array], pa.Array]]) -> pa.Table:
    """The table with each identifier column in its canonical representation (never another value)."""
    for name, fold in forms.items():
        if name in table.column_names:
            table = table.set_column(table.column_names.index(name), name, fold(table.column(name)))
    return table


def normalized_counts(mapping: EntityMapping, table: pa.Table, raw: pa.Table | None,
                      columns: list[str]) -> dict[str, int]:
    """Per canonical column: rows whose loaded value differs from the seller's text only in representation
    (full-width digits, lower-case x, separators); R12's NORMALIZED count. Counts only."""
    if raw is None or not table.num_rows:
        return {}
    sources = {f.target: f.source for f in mapping.fields if f.source}
    where = pc.index_in(table.column(LINE_COLUMN), value_set=raw.column(LINE_COLUMN).combine_chunks())
    counts = {}
    for name in columns:
        if sources.get(name) not in raw.column_names:
            continue
        seller = pc.utf8_trim_whitespace(raw.column(sources[name]).combine_chunks().take(where))
        differs = pc.fill_null(pc.not_equal(seller, table.column(name).combine_chunks()), False)
        counts[name] = int(pc.sum(differs).as_py() or 0)
    return counts


def row_count_rule(entity: str, expected: int) -> dict[str, Any]:
    """The control-file completeness check as a GX table expectation, added to the suite at run time."""
    return {"type": "expect_table_row_count_to_equal", "kwargs": {"value": expected},
            "meta": {"rule_id": f"TBL.{entity}.row_count", "reason": ROW_COUNT_REASON,
                     "notes": "Rows mapped = rows in the control file - rows quarantined by the map stage."}}


def _reject_parts(mapping: EntityMapping, lines: pa.Array, failures: list[RuleFailure]) -> list[pa.Table]:
    return [make_rejects(mapping.entity, mapping.source.file, lines.take(pa.array(f.positions, pa.int64())), STAGE,
                         f.rule_id, f.column, f.reason) for f in failures]


def check_entity(mapping: EntityMapping, table: pa.Table, doc: dict[str, Any], expected_rows: int | None = None,
                 raw: pa.Table | None = None) -> CheckedEntity:
    """Canonicalise, run the suite (with the row count when `expected_rows` is known), collect failures."""
    forms = canonical_forms(doc)
    table = canonicalize(table, forms)
    extra = [row_count_rule(mapping.entity, expected_rows)] if expected_rows is not None else []
    run = run_suite(doc, table, mapping.source.file, extra)
    lines = table.column(LINE_COLUMN).combine_chunks()
    failed = np.zeros(table.num_rows, dtype=bool)
    for failure in run.failures:
        failed[failure.positions] = True
    summary = {**run.summary, "normalized": normalized_counts(mapping, table, raw, list(forms))}
    return CheckedEntity(mapping, table, failed, _reject_parts(mapping, lines, run.failures),
                         _reject_parts(mapping, lines, run.warnings), summary, run.result)
