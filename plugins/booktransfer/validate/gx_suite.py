"""Run a buyer-schema expectation suite with Great Expectations and turn failures into quarantine rows.

GX's COMPLETE result format holds the failing values themselves; they are used here, in memory, only to
find row positions, and are dropped before anything is stored or logged (REQUIREMENTS R29).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from booktransfer.errors import ValidationFailed

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")


@dataclass(frozen=True)
class RuleFailure:
    """Which rows (by position) failed one expectation, with the rule's id, column and reason code."""

    rule_id: str
    column: str
    reason: str
    positions: list[int]


def load_suite_dict(path: Path) -> dict[str, Any]:
    """The suite file as a dict, checked to be a GX suite with rule metadata on every expectation."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    for i, exp in enumerate(doc.get("expectations", [])):
        meta = exp.get("meta", {})
        if not meta.get("rule_id") or not meta.get("reason"):
            raise ValidationFailed(f"{path}: expectation #{i} ({exp.get('type')}) needs meta.rule_id and meta.reason")
    return doc


def to_validation_frame(table: pa.Table) -> Any:
    """A pandas frame GX can compare: dates as datetimes, decimals as floats, positional index."""
    import pandas as pd

    columns = {}
    for name in table.column_names:
        col = table.column(name)
        if pa.types.is_decimal(col.type):
            col = col.cast(pa.float64())
        columns[name] = col.to_pandas()
        if pa.types.is_date(col.type):
            columns[name] = pd.to_datetime(columns[name])
    return pd.DataFrame(columns, index=pd.RangeIndex(table.num_rows))


def _quiet_context() -> Any:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def _column_of(config: Any) -> str:
    kwargs = config.kwargs
    if "column" in kwargs:
        return kwargs["column"]
    if "column_list" in kwargs:
        return "+".join(kwargs["column_list"])
    return "+".join(str(kwargs[k]) for k in ("column_A", "column_B") if k in kwargs) or "(table)"


def run_suite(suite_path: Path, table: pa.Table) -> tuple[list[RuleFailure], dict[str, Any]]:
    """Validate `table` against the suite; return row-level failures and a value-free summary."""
    import great_expectations as gx

    suite_doc = load_suite_dict(suite_path)
    context = _quiet_context()
    asset = context.data_sources.add_pandas("booktransfer").add_dataframe_asset(suite_doc["name"])
    batch = asset.add_batch_definition_whole_dataframe("run").get_batch(
        batch_parameters={"dataframe": to_validation_frame(table)}
    )
    result = batch.validate(gx.ExpectationSuite(**suite_doc), result_format={"result_format": "COMPLETE"})
    failures, summary = [], {"suite": suite_doc["name"], "evaluated": 0, "failed_rules": []}
    for res in result.results:
        summary["evaluated"] += 1
        config = res.expectation_config
        if res.exception_info and res.exception_info.get("raised_exception"):
            raise ValidationFailed(
                f"suite {suite_path.name}: expectation {config.meta['rule_id']} ({config.type}) "
                "could not be evaluated; check its column names and kwargs"
            )
        if res.success:
            continue
        positions = [int(i) for i in res.result.get("unexpected_index_list") or []]
        if not positions:
            raise ValidationFailed(
                f"suite {suite_path.name}: table-level rule {config.meta['rule_id']} ({config.type}) failed"
            )
        failures.append(RuleFailure(config.meta["rule_id"], _column_of(config), config.meta["reason"], positions))
        summary["failed_rules"].append(
            {"rule_id": config.meta["rule_id"], "reason": config.meta["reason"], "rows": len(positions)}
        )
    return failures, summary
