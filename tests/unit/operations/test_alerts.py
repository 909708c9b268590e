"""booktransfer.operations.alerts: the failure alert says which check failed, never what data."""

from __future__ import annotations

from booktransfer.errors import ChecksumMismatch
from booktransfer.operations.alerts import APPROVAL_NEEDED, TASK_FAILED, Alert, failing_check, run_url


class HITLRejectException(Exception):  # the name Airflow's human-in-the-loop provider raises on "Reject"
    pass


def _wrapped(inner: BaseException, outer: type[BaseException] = RuntimeError) -> BaseException:
    try:
        try:
            raise inner
        except BaseException as e:
            raise outer("extract: wrapped") from e
    except BaseException as e:
        return e


def test_a_booktransfer_error_behind_the_failure_is_the_check():
    """The library's message (file and cause, no values) is sent, found through the exception chain."""
    exc = _wrapped(ChecksumMismatch("LCCONT.csv: SHA-256 differs from CONTROL.txt"))
    assert failing_check(exc) == "ChecksumMismatch: LCCONT.csv: SHA-256 differs from CONTROL.txt"


def test_known_airflow_outcomes_are_said_in_words():
    """A rejected approval reads as such."""
    assert "rejected at the approval gate" in failing_check(HITLRejectException("Receive 'Reject'"))


def test_any_other_exception_is_named_by_type_only():
    """A foreign exception's message may quote data (a database error echoing a row): only its type is sent."""
    exc = ValueError("duplicate key (id_number)=(11010519491231002X)")
    assert failing_check(exc) == "ValueError (details only in the task log)"
    assert failing_check(None) == "the task failed (see its log)"


def test_the_alert_carries_the_links_and_no_data():
    """The run and task links are URL-encoded; the payload's text names run, task, check and the runbook."""
    run_id = "manual__2026-07-01T09:30:00+00:00"
    alert = Alert(event=TASK_FAILED, dag_id="portfolio_transfer", run_id=run_id, task_id="extract",
                  transfer_id="deal-1", dry_run=False, try_number=4, check="ChecksumMismatch: LCCONT.csv",
                  run_url=run_url("http://af:8080/", "portfolio_transfer", run_id),
                  task_url=run_url("http://af:8080", "portfolio_transfer", run_id, "extract"))
    assert alert.run_url == "http://af:8080/dags/portfolio_transfer/runs/manual__2026-07-01T09%3A30%3A00%2B00%3A00"
    assert alert.task_url == alert.run_url + "/tasks/extract"
    payload = alert.payload()
    assert payload["subject"] == "[booktransfer] deal-1: extract failed (portfolio_transfer)"
    assert "check: ChecksumMismatch: LCCONT.csv" in payload["text"] and alert.task_url in payload["text"]
    assert "Running a transfer" in payload["text"] and "attempt 4" in payload["text"]
    assert "&lt;" in Alert(**{**payload_fields(alert), "check": "<b>"}).html()
    assert "approval needed" in Alert(**{**payload_fields(alert), "event": APPROVAL_NEEDED}).subject


def payload_fields(alert: Alert) -> dict:
    return {k: v for k, v in alert.payload().items() if k not in ("source", "subject", "text")}
