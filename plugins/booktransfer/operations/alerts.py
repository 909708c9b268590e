"""The failure alert: which run, which task, which check failed, and where to look; never a customer's data.

The failing check is the message of the booktransfer error behind the failure (those name files, columns,
rows and codes, never values, by the library's rule) or, for the few Airflow outcomes an operator meets (the
approval rejected or unanswered, the drop never complete), a sentence saying so. Any other exception is named
by its type only: its message could quote data (a database error can echo a row), so it stays in the task log.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import quote

from booktransfer.errors import BookTransferError

TASK_FAILED, APPROVAL_NEEDED = "task_failed", "approval_needed"
KNOWN_OUTCOMES = {
    "HITLRejectException": "the load was rejected at the approval gate; nothing was loaded",
    "HITLTimeoutError": "no one answered the approval gate in time; nothing was loaded",
    "AirflowSensorTimeout": "the seller's control file did not appear before wait_for_drop's timeout",
    "AirflowTaskTimeout": "the task ran longer than its execution timeout",
}
MAX_CHECK_CHARS = 2000


def _chain(exc: BaseException | None) -> list[BaseException]:
    seen: list[BaseException] = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


def failing_check(exc: BaseException | None) -> str:
    """The failing check, safe to send: a booktransfer error's message, a known outcome, or a type name."""
    chain = _chain(exc)
    for e in chain:
        if isinstance(e, BookTransferError):
            text = f"{type(e).__name__}: {e}"
            return text if len(text) <= MAX_CHECK_CHARS else text[:MAX_CHECK_CHARS - 1] + "…"
    for e in chain:
        if type(e).__name__ in KNOWN_OUTCOMES:
            return KNOWN_OUTCOMES[type(e).__name__]
    if exc is None:
        return "the task failed (see its log)"
    return f"{type(exc).__name__} (details only in the task log)"


def run_url(base_url: str, dag_id: str, run_id: str, task_id: str | None = None) -> str:
    """The Airflow UI page of a run, or of one task of it."""
    url = f"{base_url.rstrip('/')}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"
    return f"{url}/tasks/{quote(task_id, safe='')}" if task_id else url


@dataclass(frozen=True)
class Alert:
    """One notification about a run of the transfer DAG."""

    event: str
    dag_id: str
    run_id: str
    task_id: str
    transfer_id: str
    dry_run: bool
    try_number: int | None
    check: str
    run_url: str
    task_url: str

    @property
    def subject(self) -> str:
        """A one-line headline (e-mail subject, chat title)."""
        if self.event == APPROVAL_NEEDED:
            return f"[booktransfer] {self.transfer_id}: approval needed before the load ({self.dag_id})"
        return f"[booktransfer] {self.transfer_id}: {self.task_id} failed ({self.dag_id})"

    @property
    def text(self) -> str:
        """The message in plain text: what happened, the check, the links; the runbook names what to do."""
        kind = "dry run" if self.dry_run else "run"
        lines = [self.subject, f"{kind} {self.run_id}, task {self.task_id}"
                 + (f", attempt {self.try_number}" if self.try_number else ""),
                 f"check: {self.check}", f"run: {self.run_url}", f"task: {self.task_url}",
                 "what to do: README.md, 'Running a transfer' (common failures)"]
        return "\n".join(lines)

    def payload(self) -> dict[str, Any]:
        """The webhook's JSON body (`text` for chat tools that show only that field)."""
        return {"source": "booktransfer", **asdict(self), "subject": self.subject, "text": self.text}

    def html(self) -> str:
        """The message as simple HTML (e-mail)."""
        from html import escape

        return "<br>\n".join(escape(line) for line in self.text.splitlines())
