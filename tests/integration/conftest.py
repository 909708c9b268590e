"""Shared fixtures for integration tests: a generated sample book, a keyring, a PostgreSQL schema of our own."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

PG_URL = os.environ.get("BOOKTRANSFER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def sample_book(tmp_path_factory) -> Path:
    """A 400-customer book with defects (the drop folder; its ground truth lies beside it)."""
    from booktransfer.sample.generator import generate_book

    out = tmp_path_factory.mktemp("book") / "drop"
    generate_book(out, customers=400, seed=11, defect_rate=0.05)
    return out


@pytest.fixture()
def keyring(tmp_path, monkeypatch) -> Path:
    """A fresh keyring file, named by BOOKTRANSFER_KEYRING for this test."""
    from booktransfer.protect.keyring import write_keyring

    path = write_keyring(tmp_path / "keys" / "keyring.json")
    monkeypatch.setenv("BOOKTRANSFER_KEYRING", str(path))
    monkeypatch.delenv("BOOKTRANSFER_KEYRING_JSON", raising=False)
    return path


@pytest.fixture()
def pg_url():
    """The local PostgreSQL test database, with a schema of this test's own on the search path."""
    import psycopg

    schema = f"bt_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(scope="session")
def sshd(tmp_path_factory):
    """A real OpenSSH sshd on 127.0.0.1 (free port, its own Ed25519 host key, an authorized test key)."""
    from tests.integration.sshd import start_sshd

    server = start_sshd(tmp_path_factory.mktemp("sshd"))
    yield server
    server.stop()


@pytest.fixture()
def sftp_drop(tmp_path) -> Path:
    """An empty folder the sshd serves as the seller's drop (same machine, so tests fill it directly)."""
    folder = tmp_path / "sftp-drop"
    folder.mkdir()
    return folder


@pytest.fixture(scope="session")
def airflow_stack(tmp_path_factory):
    """A real Airflow deployment: api-server, scheduler and dag-processor (LocalExecutor, parallelism 2) on a fresh
    PostgreSQL metadata database, `portfolio_transfer` registered and unpaused (tests/integration/airflow_stack.py).
    Started on first use, shared by the session, stopped and its database dropped at the end."""
    from tests.integration.airflow_stack import start_airflow_stack

    stack = start_airflow_stack(tmp_path_factory.mktemp("airflow-stack"))
    yield stack
    stack.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """When a test that uses `airflow_stack` fails, add the last lines of every component's log to its report."""
    report = yield
    stack = getattr(item, "funcargs", {}).get("airflow_stack")
    if report.failed and stack is not None:
        report.sections.append(("airflow stack logs", stack.log_tails()))
    return report
