"""Database errors as booktransfer errors, without the values the driver may quote.

PostgreSQL's messages can carry a refused row ("Failing row contains (…)", a COPY line's text), and
SQLAlchemy's can carry statement parameters; what reaches a log here is the table, the column, the SQL
state and, for COPY, the source line of the refused row.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable

import sqlalchemy as sa

from booktransfer.errors import BookTransferError, LoadError, TargetUnavailable

_COPY_LINE = re.compile(r"\bCOPY\s+\S+,\s+line\s+(\d+)")
_SQLITE_LOST = ("database is locked", "disk i/o error", "unable to open database")


def _driver_error(exc: BaseException) -> BaseException:
    return exc.orig if isinstance(exc, sa.exc.DBAPIError) and exc.orig is not None else exc


def _is_transient(exc: BaseException, driver: BaseException) -> bool:
    import psycopg

    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(driver, psycopg.OperationalError):
        return True
    if isinstance(driver, sqlite3.OperationalError):
        return any(s in str(driver).lower() for s in _SQLITE_LOST)
    return False


def _postgres_detail(driver: BaseException, line_of_copy_row: Callable[[int], int | None] | None) -> str:
    diag = driver.diag
    parts = [f"SQLSTATE {driver.sqlstate} ({type(driver).__name__})"]
    if diag.column_name:
        parts.append(f"column {diag.column_name}")
    if diag.constraint_name:
        parts.append(f"constraint {diag.constraint_name}")
    match = _COPY_LINE.search(diag.context or "")
    if match and line_of_copy_row is not None:
        source_line = line_of_copy_row(int(match.group(1)))
        parts.append(f"source line {source_line}" if source_line is not None else f"row {match.group(1)}")
    return ", ".join(parts)


def describe(exc: BaseException, line_of_copy_row: Callable[[int], int | None] | None = None) -> str:
    """What went wrong, in words that hold no value: SQL state, column, constraint, source line."""
    import psycopg

    driver = _driver_error(exc)
    if isinstance(driver, psycopg.Error) and driver.sqlstate:
        return _postgres_detail(driver, line_of_copy_row)
    if isinstance(driver, sqlite3.Error):
        return f"{type(driver).__name__}: {driver}"  # SQLite names columns and constraints, never values
    return type(driver).__name__


def as_load_error(table: str, exc: BaseException,
                  line_of_copy_row: Callable[[int], int | None] | None = None) -> BookTransferError:
    """A TargetUnavailable (worth retrying) or a LoadError (a verdict) for a failure while loading `table`."""
    driver = _driver_error(exc)
    if _is_transient(exc, driver):
        return TargetUnavailable(
            f"{table}: the connection to the buyer's database was lost during the load "
            f"({type(driver).__name__}); the table's transaction rolled back, nothing of it was kept")
    return LoadError(f"{table}: the buyer's database refused the load ({describe(exc, line_of_copy_row)}); "
                     "the table's transaction rolled back, nothing of it was kept")
