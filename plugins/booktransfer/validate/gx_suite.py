"""Run a buyer-schema expectation suite with Great Expectations and turn its verdicts into row positions.

The suite is GX 1.x's own JSON, rebuilt by GX (custom types registered first). GX runs with a COMPLETE
result format that excludes unexpected values (`exclude_unexpected_values`, no partial lists, no index
query): what comes back per failed rule is a count and the failing row positions, never a value
(REQUIREMENTS R29, GX issue #8780). The stored copy of each result is stripped further to counts
(`sanitize`) before Data Docs render it.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from booktransfer.errors import ValidationFailed

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

RESULT_FORMAT = {
    "result_format": "COMPLETE",
    "exclude_unexpected_values": True,
    "partial_unexpected_count": 0,
    "return_unexpected_index_query": False,
    "include_unexpected_rows": False,
}
# The only result keys that leave this module: counts and percentages.
SAFE_RESULT_KEYS = ("element_count", "unexpected_count", "unexpected_percent", "unexpected_percent_total",
                    "unexpected_percent_nonmissing", "missing_count", "missing_percent")
# Table-level rules whose observed value is a count or the column names, never a field value.
TABLE_OBSERVED_VALUE_TYPES = ("expect_table_row_count_to_equal", "expect_table_columns_to_match_set",
                              "expect_table_row_count_to_be_between", "expect_table_column_count_to_equal")
WARNING = "warning"


@dataclass(frozen=True)
class RuleFailure:
    """Which rows (by position) failed one expectation, with the rule's id, column, reason and severity."""

    rule_id: str
    column: str
    reason: str
    positions: list[int]
    severity: str = "critical"


@dataclass
class SuiteRun:
    """Row-level failures (critical) and warnings of one suite run, its value-free GX result and summary."""

    failures: list[RuleFailure] = field(default_factory=list)
    warnings: list[RuleFailure] = field(default_factory=list)
    result: Any = None
    summary: dict[str, Any] = field(default_factory=dict)


def load_suite_dict(path: Path) -> dict[str, Any]:
    """The suite file as a dict, checked to be a GX suite with rule metadata on every expectation."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    for i, exp in enumerate(doc.get("expectations", [])):
        meta = exp.get("meta", {})
        if not meta.get("rule_id") or not meta.get("reason"):
            raise ValidationFailed(f"{path}: expectation #{i} ({exp.get('type')}) needs meta.rule_id and meta.reason")
    return doc


def build_suite(doc: dict[str, Any]) -> Any:
    """A `gx.ExpectationSuite` from a suite dict, with booktransfer's custom expectation types registered."""
    import great_expectations as gx

    import booktransfer.validate.custom_expectations  # noqa: F401  (registers the custom types by name)

    return gx.ExpectationSuite(**doc)


def suite_columns(doc: dict[str, Any]) -> list[str]:
    """Every column a suite's expectations name (column, column_A/B, column_list), in first-use order."""
    seen: dict[str, None] = {}
    for exp in doc.get("expectations", []):
        kwargs = exp.get("kwargs", {})
        names = [kwargs[k] for k in ("column", "column_A", "column_B") if k in kwargs] + kwargs.get("column_list", [])
        seen.update(dict.fromkeys(names))
    return list(seen)


def to_validation_frame(table: pa.Table, columns: list[str] | None = None) -> Any:
    """A pandas frame GX can compare: Arrow-backed strings, dates as datetimes, decimals as floats,
    positional index. Only `columns` (default: all) go in, each as one contiguous chunk: GX copies every
    column of the frame whenever it filters rows, so a narrow frame is a fast one."""
    import pandas as pd

    data = {}
    for name in columns if columns is not None else table.column_names:
        if name not in table.column_names:
            continue  # the suite's column check names it; GX reports the missing column
        col = table.column(name).combine_chunks()
        if pa.types.is_decimal(col.type):
            col = col.cast(pa.float64())
        elif pa.types.is_date(col.type):
            col = col.cast(pa.timestamp("s"))
        data[name] = col.to_pandas()
    return pd.DataFrame(data, index=pd.RangeIndex(table.num_rows))


def _skip_batch_fingerprint() -> None:
    """Stop GX fingerprinting each pandas batch. Below its `HASH_THRESHOLD` (1 GB) GX hashes every cell of the
    frame (`pandas.util.hash_pandas_object`, then MD5) only to put `pandas_data_fingerprint` into the result's
    batch markers, which booktransfer never reads: a fifth of a suite run on a 250,000-row frame. A threshold
    of 0 turns it off; on a GX without the setting nothing changes (a test notices)."""
    from great_expectations.execution_engine import pandas_execution_engine

    if hasattr(pandas_execution_engine, "HASH_THRESHOLD"):
        pandas_execution_engine.HASH_THRESHOLD = 0


def _quiet_context() -> Any:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    _skip_batch_fingerprint()
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def column_of(config: Any) -> str:
    """The column an expectation judges, for the quarantine record: `meta.column` when the suite names one,
    else its column, else the first of its column_list."""
    if config.meta.get("column"):
        return config.meta["column"]
    kwargs = config.kwargs
    if "column" in kwargs:
        return kwargs["column"]
    if "column_list" in kwargs:
        return kwargs["column_list"][0]
    return "+".join(str(kwargs[k]) for k in ("column_A", "column_B") if k in kwargs) or "(table)"


def raised(exception_info: dict | None) -> bool:
    """Whether GX recorded an exception for an expectation: at the top level, or (GX 1.x) per metric."""
    if not exception_info:
        return False
    if exception_info.get("raised_exception"):
        return True
    return any(isinstance(v, dict) and v.get("raised_exception") for v in exception_info.values())


def validate_frame(suite: Any, frame: Any) -> Any:
    """GX's validation of `frame` against `suite`, in an ephemeral context, with the value-free result format."""
    from great_expectations.validator.v1_validator import Validator

    context = _quiet_context()
    batch_definition = (context.data_sources.add_pandas("booktransfer").add_dataframe_asset(suite.name)
                        .add_batch_definition_whole_dataframe("run"))
    # One Validator over the frame: Batch.validate would fetch (and fingerprint) the batch a second time.
    validator = Validator(batch_definition, result_format=dict(RESULT_FORMAT), batch_parameters={"dataframe": frame})
    try:
        return validator.validate_expectation_suite(suite)
    finally:
        from booktransfer.validate.custom_expectations import forget

        forget()


def run_suite(doc: dict[str, Any], table: pa.Table, source_file: str,
              extra: list[dict[str, Any]] | None = None) -> SuiteRun:
    """Validate `table` against the suite (plus run-time `extra` expectations, e.g. the control-file row
    count); return row positions per failed rule. A failed table-level rule or an expectation GX could not
    evaluate stops the run, naming the file and the rule."""
    doc = {**doc, "expectations": [*doc.get("expectations", []), *(extra or [])]}
    suite = build_suite(doc)
    result = validate_frame(suite, to_validation_frame(table, suite_columns(doc)))
    run = SuiteRun(summary={"suite": doc["name"], "evaluated": 0, "failed_rules": [], "warnings": []})
    for res in result.results:
        run.summary["evaluated"] += 1
        config = res.expectation_config
        rule_id = config.meta["rule_id"]
        if raised(res.exception_info):
            raise ValidationFailed(
                f"{source_file}: check {rule_id} ({config.type}) of suite {doc['name']} could not be evaluated; "
                f"check that the columns it names ({column_of(config)}) exist in the mapped table"
            )
        positions = [int(i) for i in res.result.get("unexpected_index_list") or []]
        if res.success and not positions:
            continue  # (a rule with `mostly` < 1 can pass as a whole: its failing rows still leave the flow)
        severity = str(getattr(config.severity, "value", config.severity) or "critical").lower()
        if not positions:
            if severity == WARNING:
                continue
            raise ValidationFailed(
                f"{source_file}: table-level check {rule_id} ({config.type}, reason {config.meta['reason']}) "
                f"failed; nothing is loaded"
            )
        failure = RuleFailure(rule_id, column_of(config), config.meta["reason"], positions, severity)
        (run.warnings if severity == WARNING else run.failures).append(failure)
        entry = {"rule_id": rule_id, "reason": failure.reason, "rows": len(positions)}
        run.summary["warnings" if severity == WARNING else "failed_rules"].append(entry)
    run.result = sanitize(result)
    return run


def sanitize(result: Any) -> Any:
    """A copy of a suite validation result that holds counts only: no unexpected values or indexes, no
    batch fingerprint, no observed value except a table-level count or column list."""
    from great_expectations.core.expectation_validation_result import (
        ExpectationSuiteValidationResult,
        ExpectationValidationResult,
    )

    results = []
    for res in result.results:
        kept = {k: res.result[k] for k in SAFE_RESULT_KEYS if k in (res.result or {})}
        if res.expectation_config.type in TABLE_OBSERVED_VALUE_TYPES and "observed_value" in (res.result or {}):
            kept["observed_value"] = res.result["observed_value"]
        results.append(ExpectationValidationResult(
            success=res.success, expectation_config=res.expectation_config, result=kept,
            exception_info={"raised_exception": raised(res.exception_info), "exception_message": None,
                            "exception_traceback": None},
        ))
    return ExpectationSuiteValidationResult(
        success=result.success, results=results, suite_name=result.suite_name, statistics=result.statistics,
        meta={"great_expectations_version": result.meta.get("great_expectations_version")},
    )
