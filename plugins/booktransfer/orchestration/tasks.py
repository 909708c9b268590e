"""Task bodies of the `portfolio_transfer` DAG: resolve params to a run context, call one pipeline stage.

Imported by the DAG file at parse time, so nothing heavy is imported here at module level.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from booktransfer.extract.sources import DropSource
    from booktransfer.pipeline import RunContext

log = logging.getLogger(__name__)


def resolve_target(target: str, home: Path) -> str:
    """A database URL from the target param: a SQLite URL (relative to the project) or a connection id."""
    if target.startswith("sqlite:///"):
        path = Path(target.removeprefix("sqlite:///"))
        return f"sqlite:///{path if path.is_absolute() else home / path}"
    if "://" in target:
        raise ValueError("only SQLite URLs may be given inline; put other databases in an Airflow connection")
    from airflow.sdk import BaseHook

    return BaseHook.get_connection(target).get_uri()


def resolve_source(source: str, home: Path) -> DropSource:
    """The drop source from the source param (a local folder for now)."""
    from booktransfer.extract.sources import LocalFolderSource

    path = Path(source)
    return LocalFolderSource(path if path.is_absolute() else home / path)


def run_context(params: dict[str, Any], run_id: str) -> RunContext:
    """Build the run context from the DAG params and the Airflow run id."""
    from booktransfer.pipeline import RunContext, project_home

    home = project_home()
    return RunContext(
        transfer_id=params["transfer_id"],
        run_id=run_id,
        mapping_set=params["mapping_set"],
        target_url=resolve_target(params["target"], home),
        dry_run=bool(params["dry_run"]),
        home=home,
    )


def _stage(name: str, params: dict[str, Any], run_id: str) -> dict[str, Any]:
    """Run one stage. A booktransfer error is a verdict on the data, not a glitch: fail without retrying."""
    from airflow.sdk.exceptions import AirflowFailException

    from booktransfer import pipeline
    from booktransfer.errors import BookTransferError

    ctx = run_context(params, run_id)
    try:
        if name == "extract":
            result = pipeline.run_extract(ctx, resolve_source(params["source"], ctx.root))
        else:
            result = getattr(pipeline, f"run_{name}")(ctx)
    except BookTransferError as e:
        raise AirflowFailException(f"{name}: {e}") from e
    log.info("stage %s done: %s", name, result)
    return result


def extract(params: dict[str, Any], run_id: str) -> dict[str, Any]:
    """Land the drop, check it against the control file, stage it."""
    return _stage("extract", params, run_id)


def map_rows(params: dict[str, Any], run_id: str) -> dict[str, Any]:
    """Map the staged files to the buyer's shape."""
    return _stage("map", params, run_id)


def validate(params: dict[str, Any], run_id: str) -> dict[str, Any]:
    """Validate mapped rows; quarantine failures."""
    return _stage("validate", params, run_id)


def protect(params: dict[str, Any], run_id: str) -> dict[str, Any]:
    """Tokenize and encrypt personal data."""
    return _stage("protect", params, run_id)


def load(params: dict[str, Any], run_id: str) -> dict[str, Any]:
    """Load the buyer's tables (skipped on a dry run)."""
    return _stage("load", params, run_id)


def reconcile(params: dict[str, Any], run_id: str) -> dict[str, Any]:
    """Write the reconciliation report; fail when the conservation equation does not hold."""
    return _stage("reconcile", params, run_id)
