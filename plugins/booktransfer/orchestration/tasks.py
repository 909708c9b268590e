"""Task bodies of the `portfolio_transfer` DAG: resolve params to a run context, call one pipeline stage.

Imported by the DAG file at parse time, so nothing heavy is imported here at module level.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from booktransfer.orchestration.drop_source import resolve_source

if TYPE_CHECKING:
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


def run_context(params: dict[str, Any], run_id: str) -> RunContext:
    """Build the run context from the DAG params and the Airflow run id."""
    from datetime import date

    from booktransfer.load.settings import TransferSettings
    from booktransfer.pipeline import RunContext, project_home

    home = project_home()
    as_of = (params.get("as_of_date") or "").strip()
    return RunContext(
        transfer_id=params["transfer_id"],
        run_id=run_id,
        mapping_set=params["mapping_set"],
        target_url=resolve_target(params["target"], home),
        dry_run=bool(params["dry_run"]),
        home=home,
        as_of=date.fromisoformat(as_of) if as_of else None,
        max_reject_rate=float(params.get("max_reject_rate", RunContext.max_reject_rate)),
        settings=TransferSettings.from_params(params, home),
        partitions=int(params.get("partitions", 1)),
    )


def wait_for_drop(params: dict[str, Any], run_id: str) -> bool:
    """One poke of the sensor: is the control file, which marks the drop complete, in the drop yet?

    An unreachable server means "not yet" (the sensor pokes again until its timeout); a wrong host key or
    an unsafe connection fails the task at once, and a wrong host key is recorded as a security event.
    """
    from contextlib import closing

    from airflow.sdk.exceptions import AirflowFailException

    from booktransfer.errors import BookTransferError, SourceUnavailable
    from booktransfer.extract.security_events import pi_categories

    ctx = run_context(params, run_id)
    mapping = ctx.load_mapping()
    control = mapping.spec.drop.control_file.name
    try:
        with closing(resolve_source(params, ctx.root, attempts=1)) as source:
            found = source.exists(control)
    except SourceUnavailable as e:
        log.warning("wait_for_drop: %s; poking again later", e)
        return False
    except BookTransferError as e:
        ctx.security_events().record_error(e, control, pi_categories(mapping))
        raise AirflowFailException(f"wait_for_drop: {e}") from e
    log.info("wait_for_drop: control file %s %s", control, "found" if found else "not there yet")
    return found


def _stage(name: str, params: dict[str, Any], run_id: str, partition: int | None = None) -> dict[str, Any]:
    """Run one stage, for the book or (`partition`) for one partition of it (a mapped task instance).

    A booktransfer error is a verdict on the data, not a glitch: fail without retrying.

    The exceptions: a drop server that could not be reached (or kept dropping the connection), and a buyer
    database that dropped the connection mid-load (the table rolled back; the retry resumes the load), are
    glitches, left for Airflow's retries.
    """
    from contextlib import closing
    from dataclasses import replace

    from airflow.sdk.exceptions import AirflowFailException

    from booktransfer import pipeline
    from booktransfer.errors import BookTransferError, SourceUnavailable, TargetUnavailable
    from booktransfer.orchestration.keyring_source import with_keyring

    ctx = run_context(params, run_id)
    try:
        if partition is not None:
            ctx = ctx.for_partition(partition)
        ctx = with_keyring(ctx)  # from the booktransfer_keyring connection (else the local default), in memory only
        if name == "extract":
            with closing(resolve_source(params, ctx.root)) as source:
                result = pipeline.run_extract(ctx, source)
        elif name == "reconcile":  # the verify tasks checked every partition's share (a dry run has none)
            result = pipeline.run_reconcile(replace(ctx, verified=True))
        else:  # plan_load: what the load will write, checked against the target; writes nothing there
            result = getattr(pipeline, f"run_{name}")(ctx)
    except (SourceUnavailable, TargetUnavailable):
        raise
    except BookTransferError as e:  # named by stage (validate_book is the validate stage's book-level step)
        raise AirflowFailException(f"{name.removesuffix('_book')}: {e}") from e
    log.info("stage %s done: %s", name, result)
    return result


def extract(params: dict[str, Any], run_id: str) -> dict[str, Any]:
    """Land the drop, check it against the control file, stage it (split into the run's partitions)."""
    return _stage("extract", params, run_id)


def partition_list(extracted: dict[str, Any]) -> list[dict[str, Any]]:
    """What the partitioned stages map over: one item per partition, `{"partition": p, "of": n}`."""
    parts = extracted["partitions"]
    return [{"partition": p, "of": len(parts)} for p in parts]


def map_rows(params: dict[str, Any], run_id: str, partition: int | None = None) -> dict[str, Any]:
    """Map the staged files (of one partition) to the buyer's shape."""
    return _stage("map", params, run_id, partition)


def validate(params: dict[str, Any], run_id: str, partition: int | None = None) -> dict[str, Any]:
    """Run the suites on one partition's mapped rows (without `partition`: the whole validate stage)."""
    return _stage("validate", params, run_id, partition)


def validate_book(params: dict[str, Any], run_id: str) -> dict[str, Any]:
    """The book-level rules over every partition; quarantine failures; the reject-rate verdict."""
    return _stage("validate_book", params, run_id)


def protect(params: dict[str, Any], run_id: str, partition: int | None = None) -> dict[str, Any]:
    """Tokenize and encrypt personal data (of one partition)."""
    return _stage("protect", params, run_id, partition)


def plan_load(params: dict[str, Any], run_id: str, partition: int | None = None) -> dict[str, Any]:
    """Build the load plan and check the target without writing to it (what the approval shows; a dry run's
    last look at the target): the book's decisions, or with `partition` that partition's plan."""
    return _stage("plan_load", params, run_id, partition)


def load_path(params: dict[str, Any], approve_task: str, dry_run_task: str) -> str:
    """The task that follows the load plan: the approval gate, or straight to the report on a dry run."""
    return dry_run_task if params.get("dry_run") else approve_task


def load(params: dict[str, Any], run_id: str, partition: int | None = None) -> dict[str, Any]:
    """Load the buyer's tables (one partition's share of them; after the approval; never on a dry run)."""
    return _stage("load", params, run_id, partition)


def verify(params: dict[str, Any], run_id: str, partition: int) -> dict[str, Any]:
    """Check one partition's share of the target record by record (after every partition loaded)."""
    return _stage("verify", params, run_id, partition)


def reconcile(params: dict[str, Any], run_id: str) -> dict[str, Any]:
    """Write the reconciliation report from the target and the verify tasks' records; fail when the conservation
    equation or a record-level check does not hold."""
    return _stage("reconcile", params, run_id)


def compliance_gate(params: dict[str, Any], run_id: str, moment: datetime) -> dict[str, Any]:
    """Check the run's settings against the compliance rules before anything is fetched; record them.

    `moment` is the run's logical date (or, for a run without one, when it was triggered).
    """
    from airflow.sdk.exceptions import AirflowFailException

    from booktransfer.compliance.gate import run_day, run_gate
    from booktransfer.errors import BookTransferError

    try:
        return run_gate(run_context(params, run_id), params, run_day(moment))
    except BookTransferError as e:
        raise AirflowFailException(f"compliance_gate: {e}") from e


def approval_page(params: dict[str, Any], run_id: str) -> tuple[str, str]:
    """The approval gate's headline and Markdown body: counts and codes from the run's records, no values."""
    from booktransfer.operations.review import approval_page as page
    from booktransfer.operations.review import redacted_url

    ctx = run_context(params, run_id)
    return page(ctx, redacted_url(ctx.target_url))


def record_approval(params: dict[str, Any], run_id: str, event: dict[str, Any], task_id: str) -> str:
    """Write the approval gate's decision (who, when, which option) into the run's record; return it."""
    from booktransfer.operations.record import approval_record, write_approval

    record = approval_record(event, task_id)
    write_approval(run_context(params, run_id).run_dir, record)
    log.info("%s: %s by Airflow user %s", task_id, record["decision"], record["responded_by"])
    return record["decision"]
