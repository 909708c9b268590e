"""Alerts: a notifier for task failures (and for an approval that waits), sent through an Airflow connection.

Which connection: the run's `alert_conn_id` param, else the deployment's `BOOKTRANSFER_ALERT_CONN_ID`, else none
(the alert is only logged). Connection type http/https: a JSON POST to a webhook (`schema` http or https, `host`,
`port`, extra `endpoint` and `headers`; a password is sent as `Authorization: Bearer`, and Airflow masks it).
Type smtp: an e-mail through the SMTP provider's notifier to the extra `to` (and `from_email`). The message is
`booktransfer.operations.alerts.Alert`: run, task, the failing check, links; never a customer's data.
"""

from __future__ import annotations

import logging
import os
import smtplib
from typing import TYPE_CHECKING, Any

from airflow.sdk.bases.notifier import BaseNotifier

from booktransfer.operations.alerts import APPROVAL_NEEDED, TASK_FAILED, Alert, failing_check, run_url

if TYPE_CHECKING:
    from airflow.sdk import Connection, Context

log = logging.getLogger(__name__)
ALERT_CONN_ENV = "BOOKTRANSFER_ALERT_CONN_ID"
WEBHOOK_TIMEOUT_SECONDS = 10.0
APPROVAL_CHECK = "waiting for an operator's approval; the page shows the validation summary and the load plan"


def alert_conn_id(params: dict[str, Any]) -> str | None:
    """The connection alerts go through: the run's param, else the deployment's default, else None."""
    return (params.get("alert_conn_id") or "").strip() or os.environ.get(ALERT_CONN_ENV, "").strip() or None


def build_alert(context: Context, event: str) -> Alert:
    """The alert for a task instance of a run (failure, or an approval that waits)."""
    from airflow.sdk import conf

    ti = context["ti"]
    params = dict(context.get("params") or {})
    base = conf.get("api", "base_url", fallback="http://localhost:8080")
    task_url = run_url(base, ti.dag_id, ti.run_id, ti.task_id)
    if event == APPROVAL_NEEDED:
        check, task_url = APPROVAL_CHECK, f"{task_url}/required_actions"
    else:
        check = failing_check(context.get("exception"))
    return Alert(event=event, dag_id=ti.dag_id, run_id=ti.run_id, task_id=ti.task_id,
                 transfer_id=str(params.get("transfer_id", "")), dry_run=bool(params.get("dry_run", False)),
                 try_number=getattr(ti, "try_number", None), check=check, run_url=run_url(base, ti.dag_id, ti.run_id),
                 task_url=task_url)


def webhook_url(conn: Connection) -> str:
    """The URL an http/https connection names: scheme (`schema`, else the type), host, port, extra `endpoint`."""
    host = (conn.host or "").strip()
    if "://" in host:
        base = host
    else:
        scheme = conn.schema if conn.schema in ("http", "https") else ("https" if conn.conn_type == "https" else "http")
        base = f"{scheme}://{host}" + (f":{conn.port}" if conn.port else "")
    endpoint = str(conn.extra_dejson.get("endpoint") or "")
    return base.rstrip("/") + ("/" + endpoint.lstrip("/") if endpoint else "")


def post_webhook(conn: Connection, alert: Alert) -> int:
    """POST the alert as JSON; returns the HTTP status. Raises httpx.HTTPError when it is not delivered."""
    import httpx

    headers = {"User-Agent": "booktransfer-alert", **dict(conn.extra_dejson.get("headers") or {})}
    if conn.password:
        headers["Authorization"] = f"Bearer {conn.password}"
    response = httpx.post(webhook_url(conn), json=alert.payload(), headers=headers, timeout=WEBHOOK_TIMEOUT_SECONDS)
    response.raise_for_status()
    return response.status_code


def send_email(conn_id: str, conn: Connection, alert: Alert, context: Context) -> None:
    """Send the alert through the SMTP provider's notifier, to the connection's extra `to`."""
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    extra = conn.extra_dejson
    if not extra.get("to"):
        raise ValueError(f"SMTP connection {conn_id} has no extra 'to' (the operations team's address)")
    SmtpNotifier(to=extra["to"], from_email=extra.get("from_email"), subject=alert.subject, html_content=alert.html(),
                 smtp_conn_id=conn_id).notify(context)


def send_alert(context: Context, event: str) -> bool:
    """Send one alert through the run's alert connection; False when none is set or it could not be delivered.

    Delivery problems are logged, never raised: the task's own outcome must not change because an alert failed.
    """
    import httpx
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    conn_id = alert_conn_id(dict(context.get("params") or {}))
    alert = build_alert(context, event)
    if conn_id is None:
        log.info("no alert connection (alert_conn_id, %s): %s", ALERT_CONN_ENV, alert.subject)
        return False
    try:
        conn = BaseHook.get_connection(conn_id)
        if conn.conn_type in ("http", "https"):
            post_webhook(conn, alert)
        elif conn.conn_type in ("smtp", "email"):
            send_email(conn_id, conn, alert, context)
        else:
            log.error("alert not sent: connection %s is of type %s, not http, https or smtp", conn_id, conn.conn_type)
            return False
    except AirflowNotFoundException:
        log.error("alert not sent: no Airflow connection %s", conn_id)
        return False
    except (httpx.HTTPError, smtplib.SMTPException, OSError, ValueError) as e:
        log.error("alert not sent through %s: %s", conn_id, type(e).__name__)
        return False
    log.info("alert sent through %s: %s", conn_id, alert.subject)
    return True


class TransferAlert(BaseNotifier):
    """Airflow notifier: on a task's failure (or when the approval gate starts waiting), send the alert."""

    def __init__(self, event: str = TASK_FAILED) -> None:
        super().__init__()
        self.event = event

    def notify(self, context: Context) -> None:
        """Send the alert for this context (see `send_alert`)."""
        send_alert(context, self.event)


def on_failure() -> TransferAlert:
    """The failure callback every task of the DAG gets."""
    return TransferAlert(TASK_FAILED)


def on_approval_needed() -> TransferAlert:
    """The notifier the approval gate calls when it starts waiting."""
    return TransferAlert(APPROVAL_NEEDED)
