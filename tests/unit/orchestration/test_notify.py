"""booktransfer.orchestration.notify: alerts through real Airflow connections to a real webhook and SMTP server."""

from __future__ import annotations

import json
import socketserver
import threading
from collections.abc import Iterator
from email import message_from_bytes
from email.policy import default as email_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import httpx
import pytest

from booktransfer.operations.alerts import TASK_FAILED, Alert
from booktransfer.orchestration.notify import (
    ALERT_CONN_ENV,
    alert_conn_id,
    post_webhook,
    send_alert,
    send_email,
    webhook_url,
)

ALERT = Alert(event=TASK_FAILED, dag_id="portfolio_transfer", run_id="manual__1", task_id="extract",
              transfer_id="deal-1", dry_run=False, try_number=1, check="ChecksumMismatch: LCCONT.csv differs",
              run_url="http://af/dags/portfolio_transfer/runs/manual__1",
              task_url="http://af/dags/portfolio_transfer/runs/manual__1/tasks/extract")


def connection(**fields):
    from airflow.sdk import Connection

    return Connection(conn_id=fields.pop("conn_id", "alerts"), **fields)


@pytest.fixture()
def webhook() -> Iterator[tuple[int, list, list]]:
    """A real HTTP server on 127.0.0.1: answers with the next status in `statuses` (204 when empty)."""
    received, statuses = [], []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            received.append((self.path, dict(self.headers), body))
            self.send_response(statuses.pop(0) if statuses else 204)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], received, statuses
    server.shutdown()
    server.server_close()


class SmtpSink(socketserver.StreamRequestHandler):
    """Just enough SMTP (RFC 5321) to accept one message: EHLO, MAIL, RCPT, DATA, QUIT."""

    messages: list[tuple[str, list[str], bytes]] = []

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        self.reply("220 sink ready")
        sender, rcpts = "", []
        while line := self.rfile.readline():
            verb = line.decode().strip().split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                self.reply("250 sink")
            elif verb == "MAIL":
                sender = line.decode().split(":", 1)[1].strip()
                self.reply("250 ok")
            elif verb == "RCPT":
                rcpts.append(line.decode().split(":", 1)[1].strip())
                self.reply("250 ok")
            elif verb == "DATA":
                self.reply("354 go on")
                data = b""
                while (chunk := self.rfile.readline()) != b".\r\n":
                    data += chunk
                SmtpSink.messages.append((sender, rcpts, data))
                self.reply("250 queued")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("250 ok")


def test_the_webhook_url_follows_the_http_connection_fields():
    """schema (http/https) or the type, host, port and the extra endpoint; a full URL in host also works."""
    assert webhook_url(connection(conn_type="http", host="127.0.0.1", port=8080, schema="http",
                                  extra=json.dumps({"endpoint": "/alerts"}))) == "http://127.0.0.1:8080/alerts"
    assert webhook_url(connection(conn_type="https", host="hooks.example")) == "https://hooks.example"
    assert webhook_url(connection(conn_type="http", host="https://hooks.example/base/")) == "https://hooks.example/base"


def test_the_alert_is_posted_as_json_with_the_password_as_bearer_token(webhook):
    """The payload names run, task, check and links; the password travels only in the Authorization header."""
    port, received, _ = webhook
    conn = connection(conn_type="http", host="127.0.0.1", port=port, schema="http", password="tok-98765",
                      extra=json.dumps({"endpoint": "/hooks/bt", "headers": {"X-Team": "ops"}}))
    assert post_webhook(conn, ALERT) == 204
    [(path, headers, body)] = received
    assert path == "/hooks/bt" and headers["Authorization"] == "Bearer tok-98765" and headers["X-Team"] == "ops"
    assert body["check"] == ALERT.check and body["task_url"] == ALERT.task_url and body["text"] == ALERT.text
    assert "tok-98765" not in json.dumps(body)


def test_an_undelivered_alert_is_logged_not_raised(webhook, monkeypatch, caplog):
    """A webhook answering 500, or a connection that does not exist: send_alert says so and returns False, so
    the task's own outcome stands."""
    port, _, statuses = webhook
    monkeypatch.setenv("AIRFLOW_CONN_OPS_DOWN", json.dumps({"conn_type": "http", "host": "127.0.0.1", "port": port}))
    context = {"ti": SimpleNamespace(dag_id="portfolio_transfer", run_id="manual__1", task_id="load", try_number=2),
               "params": {"transfer_id": "deal-1", "alert_conn_id": "ops_down"}, "exception": None}
    statuses.append(500)
    assert send_alert(context, TASK_FAILED) is False
    assert "alert not sent through ops_down: HTTPStatusError" in caplog.text
    with pytest.raises(httpx.HTTPStatusError):
        statuses.append(503)
        post_webhook(connection(conn_type="http", host="127.0.0.1", port=port), ALERT)
    context["params"]["alert_conn_id"] = "no_such_conn"
    assert send_alert(context, TASK_FAILED) is False
    assert "no Airflow connection no_such_conn" in caplog.text


def test_the_alert_connection_comes_from_the_run_then_the_deployment(monkeypatch):
    """The run's alert_conn_id wins; else BOOKTRANSFER_ALERT_CONN_ID; else no alert."""
    monkeypatch.delenv(ALERT_CONN_ENV, raising=False)
    assert alert_conn_id({"alert_conn_id": ""}) is None
    monkeypatch.setenv(ALERT_CONN_ENV, "ops_default")
    assert alert_conn_id({}) == "ops_default" and alert_conn_id({"alert_conn_id": "ops_run"}) == "ops_run"


def test_an_smtp_connection_sends_an_email_through_the_smtp_provider(monkeypatch):
    """Type smtp: the SMTP provider's notifier delivers the alert to the connection's extra 'to'."""
    SmtpSink.messages.clear()
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), SmtpSink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        extra = {"to": "ops-team@buyer.example", "from_email": "booktransfer@buyer.example",
                 "disable_tls": True, "disable_ssl": True}
        monkeypatch.setenv("AIRFLOW_CONN_OPS_MAIL", json.dumps({"conn_type": "smtp", "host": "127.0.0.1",
                                                                "port": server.server_address[1], "extra": extra}))
        from airflow.sdk import BaseHook

        send_email("ops_mail", BaseHook.get_connection("ops_mail"), ALERT, {})
    finally:
        server.shutdown()
        server.server_close()
    [(sender, rcpts, data)] = SmtpSink.messages
    assert "booktransfer@buyer.example" in sender and rcpts == ["<ops-team@buyer.example>"]
    mail = message_from_bytes(data, policy=email_policy)
    assert mail["Subject"] == ALERT.subject
    html = next(p for p in mail.walk() if p.get_content_type() == "text/html").get_content()
    assert "check: ChecksumMismatch: LCCONT.csv differs" in html and ALERT.run_url in html


def test_an_smtp_connection_without_recipient_is_refused():
    """No extra 'to': a clear error naming the connection (send_alert logs it)."""
    with pytest.raises(ValueError, match="ops_mail has no extra 'to'"):
        send_email("ops_mail", connection(conn_type="smtp", host="127.0.0.1"), ALERT, {})
