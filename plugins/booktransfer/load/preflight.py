"""Preflight: before any write, the target must hold every table and column the load fills, with fitting types.

An empty target (none of the buyer tables exists) gets the buyer schema's DDL; a target with some of them is
never patched: a missing table or column, a type the values do not fit, or a NOT NULL column the load would
leave empty stops the run with every problem listed by table and column (never by value).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from booktransfer.errors import SchemaMismatch
from booktransfer.extract.reader import LINE_COLUMN
from booktransfer.load.encode import SOURCE_LINE
from booktransfer.load.target import BOOKKEEPING, ddl_tables

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

MAX_LISTED = 25
_INT_RANGE = {sa.SmallInteger: 2**15, sa.BigInteger: 2**63, sa.Integer: 2**31}


def target_columns(table: pa.Table) -> list[str]:
    """The target columns a staged table fills: `transfer_id`, its columns, `_line` as `source_line`."""
    return ["transfer_id", *[SOURCE_LINE if c == LINE_COLUMN else c for c in table.column_names
                             if c != "transfer_id"]]


def _integer_problem(values: pa.ChunkedArray, sql_type: Any, dialect: str) -> str | None:
    if isinstance(sql_type, sa.Numeric) and not isinstance(sql_type, sa.Float):
        return None
    if not isinstance(sql_type, sa.Integer):
        return f"integers do not fit {sql_type}"
    if dialect == "sqlite" or not len(values) or values.null_count == len(values):
        return None
    bound = next(b for t, b in _INT_RANGE.items() if isinstance(sql_type, t))
    low, high = pc.min_max(values).values()
    if low.as_py() < -bound or high.as_py() >= bound:
        return f"values exceed the range of {sql_type}"
    return None


def _decimal_problem(values: pa.ChunkedArray, arrow_type: pa.DataType, sql_type: Any) -> str | None:
    if isinstance(sql_type, sa.Float) or not isinstance(sql_type, sa.Numeric):
        return f"exact decimals do not fit {sql_type} (money must not become floating point)"
    if sql_type.scale is not None and sql_type.scale < arrow_type.scale:
        return f"{sql_type} would round values with {arrow_type.scale} decimal places"
    if sql_type.precision and len(values) and values.null_count < len(values):
        largest = pc.max(pc.abs(values)).as_py()
        digits = len(str(int(largest))) if largest >= 1 else 0
        if digits > sql_type.precision - (sql_type.scale or 0):
            return f"values with {digits} integer digits do not fit {sql_type}"
    return None


def _string_problem(values: pa.ChunkedArray, sql_type: Any) -> str | None:
    if not isinstance(sql_type, sa.String):
        return f"text does not fit {sql_type}"
    if sql_type.length and len(values) and values.null_count < len(values):
        longest = pc.max(pc.utf8_length(values)).as_py()
        if longest > sql_type.length:
            return f"values up to {longest} characters do not fit {sql_type}"
    return None


def type_problem(values: pa.ChunkedArray, sql_type: Any, dialect: str) -> str | None:
    """Why staged values of an Arrow type cannot go into a target column of this SQL type, or None."""
    t = values.type
    if pa.types.is_null(t):
        return None
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return _string_problem(values, sql_type)
    if pa.types.is_date(t):
        return None if isinstance(sql_type, sa.Date | sa.DateTime) else f"dates do not fit {sql_type}"
    if pa.types.is_timestamp(t):
        return None if isinstance(sql_type, sa.DateTime) else f"timestamps do not fit {sql_type}"
    if pa.types.is_decimal(t):
        return _decimal_problem(values, t, sql_type)
    if pa.types.is_integer(t):
        return _integer_problem(values, sql_type, dialect)
    if pa.types.is_boolean(t):
        return None if isinstance(sql_type, sa.Boolean) else f"true/false values do not fit {sql_type}"
    return f"staged type {t} is not supported by the loader"


def _first_null_lines(table: pa.Table, column: str) -> str:
    if LINE_COLUMN not in table.column_names:
        return ""
    lines = table.column(LINE_COLUMN).filter(pc.is_null(table.column(column))).slice(0, 5).to_pylist()
    return f"; first source lines {', '.join(map(str, lines))}"


def table_problems(name: str, table: pa.Table, columns: list[dict[str, Any]], dialect: str) -> list[str]:
    """Every problem of one staged table against the reflected columns of its target table."""
    present = {c["name"]: c for c in columns}
    staged = dict(zip(target_columns(table), ["transfer_id", *[c for c in table.column_names if c != "transfer_id"]],
                      strict=True))
    problems = [f"{name}.{col}: column does not exist in the target" for col in staged if col not in present]
    for col, info in present.items():
        if col not in staged:
            required = not info.get("nullable", True) and info.get("default") is None
            if required and info.get("autoincrement") is not True:
                problems.append(f"{name}.{col}: NOT NULL without a default, and the load does not fill it")
            continue
        if col == "transfer_id":
            continue
        values = table.column(staged[col])
        reason = type_problem(values, info["type"], dialect)
        if reason:
            problems.append(f"{name}.{col}: {reason}")
        if not info.get("nullable", True) and values.null_count:
            problems.append(f"{name}.{col}: NOT NULL, but {values.null_count} row(s) have no value"
                            f"{_first_null_lines(table, staged[col])}")
    return problems


def _fail(problems: list[str]) -> None:
    shown = problems[:MAX_LISTED]
    more = f"\n  … and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
    raise SchemaMismatch("the buyer's database does not fit the load (nothing was written):\n  "
                         + "\n  ".join(shown) + more)


def ensure_bookkeeping(engine: Engine, ddl_path: Path) -> None:
    """Create the loader's own tables (`transfer_runs`, `transfer_locks`) where they are missing."""
    statements = ddl_tables(ddl_path)
    missing = [t for t in BOOKKEEPING if t in statements and not sa.inspect(engine).has_table(t)]
    if missing:
        with engine.begin() as conn:
            for name in missing:
                conn.execute(sa.text(statements[name]))


def _create_on_empty(engine: Engine, statements: dict[str, str], tables: Mapping[str, pa.Table],
                     dry_run: bool) -> str:
    existing = set(sa.inspect(engine).get_table_names())
    data_tables = [t for t in statements if t not in BOOKKEEPING]
    present = [t for t in data_tables if t in existing]
    if present:
        missing = sorted(t for t in tables if t not in existing)
        if missing:
            _fail([f"{t}: table does not exist in the target (which holds other buyer tables, so it is not "
                   "created here)" for t in missing])
        return "existing"
    unknown = sorted(t for t in tables if t not in statements)
    if unknown:
        _fail([f"{t}: table is not in the buyer DDL and does not exist in the target" for t in unknown])
    if dry_run:
        return "empty (the buyer schema would be created)"
    with engine.begin() as conn:
        for name in data_tables:
            conn.execute(sa.text(statements[name]))
    return "created"


def _scratch_schema(statements: dict[str, str]) -> Engine:
    """The buyer DDL in a throw-away in-memory SQLite database (a dry run checks the DDL itself)."""
    scratch = sa.create_engine("sqlite://")
    with scratch.begin() as conn:
        for stmt in statements.values():
            conn.execute(sa.text(stmt))
    return scratch


def check_tables(engine: Engine, tables: Mapping[str, pa.Table]) -> None:
    """Raise listing every problem of the staged tables against the target's tables."""
    inspector = sa.inspect(engine)
    problems = []
    for name, table in tables.items():
        if not inspector.has_table(name):
            problems.append(f"{name}: table does not exist in the target")
            continue
        problems.extend(table_problems(name, table, inspector.get_columns(name), engine.dialect.name))
    if problems:
        _fail(problems)


def preflight(engine: Engine | None, ddl_path: Path, tables: Mapping[str, pa.Table], dry_run: bool = False) -> str:
    """Check (or, on an empty target, create) every table the load fills; raise listing every problem.

    Returns what it found: "existing", "created", or on a dry run against an empty target (or none at all,
    `engine` None) what it would do; the DDL is then checked in a scratch database instead.
    """
    statements = ddl_tables(ddl_path)
    state = _create_on_empty(engine, statements, tables, dry_run) if engine is not None else "empty"
    if state.startswith("empty"):
        scratch = _scratch_schema(statements)
        try:
            check_tables(scratch, tables)
        finally:
            scratch.dispose()
        return "empty (the buyer schema would be created)"
    check_tables(engine, tables)
    return state
